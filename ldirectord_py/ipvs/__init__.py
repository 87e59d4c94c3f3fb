"""The kernel's IP Virtual Server: table model, netlink backend, reconciler, listing.

Start with docs/ipvs.md. In short: build a desired `model.Table`, let
`netlink.AsyncIPVS.reconcile` converge the kernel to it (only services the
configuration owns are touched), and list the kernel as ipvsadm does with
`format.render_listing` or `listing.live_listing`.
"""
