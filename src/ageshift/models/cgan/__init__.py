"""The conditional teaching GAN (``cgan``, Mirza & Osindero 2014): "make me a 7".

It is the vanilla GAN of :mod:`ageshift.models.gan` whose generator and discriminator also read the class;
this package only registers the family that fills the classes from the data's labels.
"""

from .family import CGANFamily

__all__ = ["CGANFamily"]
