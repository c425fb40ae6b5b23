"""The folder :func:`evalkit.pipeline.netguard.kernel_environment` puts first on a kernel's ``PYTHONPATH``.

It holds only ``sitecustomize.py``. It is a package so that it is installed
with evalkit; it is never imported as ``evalkit.pipeline.netguard_site``.
"""
