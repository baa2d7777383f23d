from vidssl.losses.byol import byol_loss
from vidssl.losses.colorization import colour_copy_loss
from vidssl.losses.dpc import dense_info_nce
from vidssl.losses.future import future_prediction_loss
from vidssl.losses.infonce import info_nce
from vidssl.losses.masked import masked_reconstruction_loss
from vidssl.losses.ntxent import nt_xent

__all__ = ["byol_loss", "colour_copy_loss", "dense_info_nce", "future_prediction_loss", "info_nce",
           "masked_reconstruction_loss", "nt_xent"]
