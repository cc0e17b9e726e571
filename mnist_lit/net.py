"""The 784-128-64-10 multilayer perceptron, a plain ``nn.Module`` with no Lightning in it."""

from torch import Tensor, nn

IMAGE_SIZE = 28
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_CLASSES = 10


class MLP(nn.Module):
    """Flatten, then Linear(784, 128), ReLU, Linear(128, 64), ReLU, Linear(64, 10).

    The layers are named ``fc1``, ``fc2`` and ``fc3``, as in the tutorial this project grew from,
    so a state dict moves between the two models unchanged.

    Args:
        dropout: Probability of zeroing a hidden activation after each hidden ReLU; 0 turns it off.
    """

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(NUM_PIXELS, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, NUM_CLASSES)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, images: Tensor) -> Tensor:
        """Map float images of shape (N, 1, 28, 28) or (N, 784) to logits of shape (N, 10)."""
        hidden = self.dropout(self.relu(self.fc1(self.flatten(images))))
        hidden = self.dropout(self.relu(self.fc2(hidden)))
        return self.fc3(hidden)
