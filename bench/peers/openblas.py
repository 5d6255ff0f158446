"""What the peers report about the BLAS under torch: shared by gemm.py and train_step.py."""


def openblas_core():
    """The kernel family OpenBLAS picked (DYNAMIC_ARCH builds choose at load time), or None if it is not OpenBLAS."""
    import ctypes
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None
