"""ResNet18 (He et al. 2016) as a per-frame trunk, written here because torchvision has no CPU
build on the project's machines. `width` scales every layer's channels (1.0 is the original)."""
from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """Stem (7x7 stride 2 conv, max pool), four stages of two blocks, global average pool:
    (N, in_channels, H, W) -> (N, out_features), out_features = 512 * width."""

    def __init__(self, in_channels: int = 64, width: float = 1.0) -> None:
        super().__init__()
        widths = [max(8, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1))
        stages, previous = [], widths[0]
        for index, channels in enumerate(widths):
            stride = 1 if index == 0 else 2
            stages += [BasicBlock(previous, channels, stride), BasicBlock(channels, channels)]
            previous = channels
        self.stages = nn.Sequential(*stages)
        self.out_features = widths[-1]
        # Channels-last convolutions are about a third faster on a CPU (oneDNN) and suit GPU tensor cores.
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit this form

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.stages(x), 1), 1)
