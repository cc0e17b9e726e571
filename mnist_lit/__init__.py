"""mnist_lit: train, evaluate and use a 784-128-64-10 digit classifier with PyTorch Lightning."""

__version__ = "0.1.0"
