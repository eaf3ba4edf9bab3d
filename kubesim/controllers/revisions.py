"""ControllerRevisions as the StatefulSet and DaemonSet controllers keep them (1.28).

A revision's `data` is the strategic-merge patch that puts a template back:
`{"spec": {"template": {"$patch": "replace", ...template...}}}` (the controllers' `getPatch`),
which is also the body `kubectl rollout undo` sends. Its name is `<owner>-<hash>`; the hash is
FNV-1 (32 bit) of that patch as Go's `json.Marshal` writes it (sorted keys, compact, HTML
characters escaped), followed by the collision count, safe-encoded
(`history.HashControllerRevision`): a StatefulSet `db` with the recorded template gets
`db-d5457c6b8`, as a real cluster names it. A template that equals an older revision's reuses
that revision with the next revision number (a rollback creates nothing).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from kubesim.controllers.base import SAFE_ALPHABET, Context, owned_by, owner_reference
from kubesim.store import CONTROLLERREVISIONS, AlreadyExists, NotFound, Obj

STS_HASH_LABEL = "controller.kubernetes.io/hash"  # history.ControllerRevisionHashLabel
DS_HASH_LABEL = "controller-revision-hash"  # apps.DefaultDaemonSetUniqueLabelKey


def go_json(value: Any) -> bytes:
    """encoding/json.Marshal of decoded JSON: map keys sorted, compact, <>& escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode()


def fnv1_32(data: bytes) -> int:
    """hash/fnv.New32 (FNV-1, not FNV-1a)."""
    h = 0x811C9DC5
    for byte in data:
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= byte
    return h


def template_patch(owner: Obj) -> Obj:
    """The revision data for an owner's current `spec.template`."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_hash(data: Obj, collision_count: int | None) -> str:
    raw = go_json(data)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in str(fnv1_32(raw)))


def revision_template(revision: Obj) -> Obj:
    """The pod template a revision restores."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def revision_number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def owned_revisions(ctx: Context, owner: Obj) -> list[Obj]:
    """The owner's revisions, oldest revision number first (SortControllerRevisions)."""
    namespace = owner["metadata"].get("namespace", "")
    found = [r for r in ctx.store.iter_refs(CONTROLLERREVISIONS, namespace) if owned_by(r, owner)]
    return sorted(
        found,
        key=lambda r: (
            revision_number(r),
            r["metadata"].get("creationTimestamp", ""),
            r["metadata"]["name"],
        ),
    )


def new_revision(
    owner: Obj, data: Obj, number: int, hash_label: str, collision_count: int, name_hash: str = ""
) -> Obj:
    """history.NewControllerRevision: template labels plus the hash, the owner's annotations."""
    digest = name_hash or revision_hash(data, collision_count)
    template = (owner.get("spec") or {}).get("template") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[hash_label] = digest
    meta: Obj = {
        "name": f"{owner['metadata']['name']}-{digest}",
        "namespace": owner["metadata"].get("namespace", "default"),
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }
    annotations = dict(owner["metadata"].get("annotations") or {})
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": meta,
        "data": data,
        "revision": number,
    }


def sync_revisions(
    ctx: Context,
    owner: Obj,
    hash_label: str,
    hasher: Callable[[Obj, int], str] | None = None,
) -> tuple[Obj, list[Obj], int]:
    """Find or make the revision of the owner's template: (update revision, all revisions,
    collision count). Equal to the newest: unchanged; equal to an older one: that one gets
    the next number (a rollback); none: a new one, probing past hash collisions."""
    revisions = owned_revisions(ctx, owner)
    data = template_patch(owner)
    collisions = int((owner.get("status") or {}).get("collisionCount") or 0)
    next_number = (revision_number(revisions[-1]) if revisions else 0) + 1
    equal = [r for r in revisions if r.get("data") == data]
    if equal and equal[-1] is revisions[-1]:
        return revisions[-1], revisions, collisions
    namespace = owner["metadata"].get("namespace", "")
    if equal:
        target = equal[-1]

        def renumber(current: Obj) -> None:
            current["revision"] = next_number

        try:
            updated = ctx.store.mutate(
                CONTROLLERREVISIONS, namespace, target["metadata"]["name"], renumber
            )
        except NotFound:
            updated = None
        if updated is not None:
            return updated, owned_revisions(ctx, owner), collisions
    for _ in range(100):
        digest = hasher(data, collisions) if hasher else revision_hash(data, collisions)
        revision = new_revision(owner, data, next_number, hash_label, collisions, digest)
        try:
            created = ctx.store.create(CONTROLLERREVISIONS, revision)
        except AlreadyExists:
            existing = ctx.store.peek(CONTROLLERREVISIONS, namespace, revision["metadata"]["name"])
            if existing is not None and existing.get("data") == data and owned_by(existing, owner):
                return copy.deepcopy(existing), owned_revisions(ctx, owner), collisions
            collisions += 1  # a different revision holds the name: probe with the next count
            continue
        return created, owned_revisions(ctx, owner), collisions
    raise RuntimeError(f"no free revision name for {owner['metadata']['name']}")


def truncate_history(ctx: Context, owner: Obj, revisions: list[Obj], live: set[str]) -> bool:
    """Delete the oldest revisions beyond `revisionHistoryLimit` that no pod, nor the current
    or update revision, uses (`live`: revision names)."""
    limit = (owner.get("spec") or {}).get("revisionHistoryLimit")
    limit = 10 if limit is None else int(limit)
    history = [r for r in revisions if r["metadata"]["name"] not in live]
    excess = len(history) - limit
    changed = False
    for revision in history[: max(excess, 0)]:
        try:
            ctx.store.delete(
                CONTROLLERREVISIONS,
                revision["metadata"].get("namespace", ""),
                revision["metadata"]["name"],
            )
            changed = True
        except NotFound:
            pass
    return changed
