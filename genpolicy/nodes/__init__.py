"""Node pools and registry mirrors: kubelet credential providers (KEP-2133/4412), KEP-2535 kubelet
settings and containerd `hosts.toml` files, their spec model, version rules, rendering and schemas.

Everything node- or mirror-specific lives in this package; the spec, render, explain and coverage
modules only call into it. See docs/nodes.md.
"""
