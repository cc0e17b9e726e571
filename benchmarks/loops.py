"""The two reference training loops of the benchmark, each run as its own process.

    python benchmarks/loops.py tutorial DATA_DIR RESULT.json
    python benchmarks/loops.py tensor DATA_DIR RESULT.json

``tutorial`` is the beginner's loop this project grew from: a DataLoader over torchvision's MNIST
decoding every image through PIL and ToTensor, batch 64, SGD lr 0.01, 10 epochs, evaluating on
the test set after every epoch. ``tensor`` is the floor: the same SGD over MNIST held as one
uint8 tensor, with no DataLoader and no framework. Both write seconds per epoch and the final
test accuracy to RESULT.json.
"""

import json
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

EPOCHS = 10
BATCH_SIZE = 64
LR = 0.01


class TutorialMLP(nn.Module):
    """The tutorial's model, as it wrote it; its state dict keys are the ones mnist_lit's MLP uses."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(784, 128)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.relu(self.fc2(self.relu(self.fc1(self.flatten(x))))))


def tutorial(data_dir: str) -> tuple[list[float], float]:
    train = datasets.MNIST(data_dir, train=True, transform=transforms.ToTensor())
    test = datasets.MNIST(data_dir, train=False, transform=transforms.ToTensor())
    train_loader = DataLoader(train, batch_size=BATCH_SIZE, shuffle=True)
    test_loader = DataLoader(test, batch_size=BATCH_SIZE)
    model = TutorialMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    epoch_seconds, accuracy = [], 0.0
    for _ in range(EPOCHS):
        start = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - start)
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test_loader:
                correct += (model(images).argmax(1) == labels).sum().item()
        accuracy = correct / len(test)
    return epoch_seconds, accuracy


def tensor(data_dir: str) -> tuple[list[float], float]:
    train = datasets.MNIST(data_dir, train=True)
    test = datasets.MNIST(data_dir, train=False)
    images, labels = train.data, train.targets
    model = TutorialMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    epoch_seconds = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        order = torch.randperm(len(labels))
        for first in range(0, len(labels), BATCH_SIZE):
            index = order[first : first + BATCH_SIZE]
            optimizer.zero_grad()
            F.cross_entropy(model(images[index].float() / 255), labels[index]).backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        accuracy = (model(test.data.float() / 255).argmax(1) == test.targets).float().mean().item()
    return epoch_seconds, accuracy


if __name__ == "__main__":
    loop, data_dir, result = sys.argv[1:4]
    torch.manual_seed(42)
    seconds, test_accuracy = {"tutorial": tutorial, "tensor": tensor}[loop](data_dir)
    with open(result, "w") as file:
        json.dump({"epoch_seconds": seconds, "test_acc": test_accuracy}, file)
