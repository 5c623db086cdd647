"""genpolicy: registry pull credentials for every namespace, service account and pod, the GitOps way."""

__version__ = "0.1.0"
