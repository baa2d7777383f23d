from vidssl.losses.ntxent import nt_xent

__all__ = ["nt_xent"]
