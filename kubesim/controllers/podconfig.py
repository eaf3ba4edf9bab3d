"""What a container needs from the API before it can be created: pull secrets, volumes, env.

Messages are the kubelet's own (FailedMount, CreateContainerConfigError).
"""

from __future__ import annotations

from kubesim.store import CONFIGMAPS, SECRETS, Obj, Store


def has_pull_secret(store: Store, pod: Obj) -> bool:
    """The pod names an imagePullSecret that exists."""
    ns = pod["metadata"].get("namespace", "")
    for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
        if ref.get("name") and store.peek(SECRETS, ns, ref["name"]) is not None:
            return True
    return False


def missing_volume(store: Store, pod: Obj) -> str | None:
    """The kubelet's FailedMount message for a configMap/secret volume that does not exist."""
    ns = pod["metadata"].get("namespace", "")
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        for key, rtype, kind, name_key in (
            ("configMap", CONFIGMAPS, "configmap", "name"),
            ("secret", SECRETS, "secret", "secretName"),
        ):
            source = volume.get(key)
            if not isinstance(source, dict) or source.get("optional"):
                continue
            ref = source.get(name_key)
            if ref and store.peek(rtype, ns, ref) is None:
                vol = volume.get("name")
                return f'MountVolume.SetUp failed for volume "{vol}" : {kind} "{ref}" not found'
    return None


def config_error(store: Store, pod: Obj, spec: Obj) -> str | None:
    """The CreateContainerConfigError message for env/envFrom naming what does not exist."""
    ns = pod["metadata"].get("namespace", "")
    for env in spec.get("env") or []:
        source = env.get("valueFrom") or {}
        for key, rtype, kind, title in (
            ("configMapKeyRef", CONFIGMAPS, "configmap", "ConfigMap"),
            ("secretKeyRef", SECRETS, "secret", "Secret"),
        ):
            ref = source.get(key)
            if not isinstance(ref, dict):
                continue
            obj = store.peek(rtype, ns, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                return f'{kind} "{ref.get("name")}" not found'
            data = {
                **(obj.get("data") or {}),
                **(obj.get("stringData") or {}),
                **(obj.get("binaryData") or {}),
            }
            if ref.get("key") not in data and not ref.get("optional"):
                return f"couldn't find key {ref.get('key')} in {title} {ns}/{ref.get('name')}"
    for env_from in spec.get("envFrom") or []:
        for key, rtype, kind in (
            ("configMapRef", CONFIGMAPS, "configmap"),
            ("secretRef", SECRETS, "secret"),
        ):
            ref = env_from.get(key)
            if isinstance(ref, dict) and not ref.get("optional"):
                if store.peek(rtype, ns, ref.get("name", "")) is None:
                    return f'{kind} "{ref.get("name")}" not found'
    return None
