"""Workloads the MCP and agent integration tests share (YAML for `KubeSim.apply`)."""

# A pod instance that crashes while a fresh one from the same template runs: the tests set the
# crash on the running pod only (while its image pulls), as a transient fault would be.
CRASHING = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {kubesim.io/pull-seconds: "5s"}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
        resources:
          limits: {memory: 64Mi, cpu: 100m}
"""

# stress allocates 100M under a 50Mi limit: OOM-killed until the limit is raised.
OOM = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hog, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: hog}}
  template:
    metadata: {labels: {app: hog}}
    spec:
      containers:
      - name: memory-hog
        image: polinux/stress
        command: ["stress"]
        args: ["--vm", "1", "--vm-bytes", "100M"]
        resources:
          limits: {memory: 50Mi}
"""

# A healthy deployment.
SHOP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        resources:
          limits: {memory: 128Mi, cpu: 200m}
"""

# The crash is in the template: every new pod crashes too, so deleting cannot heal.
CRASHER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: crasher, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: crasher}}
  template:
    metadata:
      labels: {app: crasher}
      annotations: {kubesim.io/crash-after: "2s"}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
"""
