"""Target-location head: logits over the spec's ``resolution x resolution`` grid from the autoregressive embedding.

AlphaStar upsamples (with map skip connections) through transposed convolutions; there is no spatial encoder
here, so the embedding is mapped linearly to ``location_channels[0]`` maps of ``resolution / 2**L`` cells a side
and upsampled by L stride-2 transposed convolutions (kernel 4) to one logit map (L = 0: one linear map).
Each transposed convolution runs as the equivalent 3x3 convolution to four phases per channel followed by a pixel
shuffle (``subpixel_weight``), channels last: the same map (to float rounding) at half the CPU time of
``ConvTranspose2d``. The weights are arranged so that no map is ever reordered but by one copy: the projection
emits its maps channels last, each convolution its phases before its channels, so a pixel shuffle is one copy
that moves runs of 2 x channels and the last one (to one channel) a reshape; while acting these weights are kept
until a parameter changes. Cell (x, y) is flat index ``y * resolution + x``; the contract's ``target_location``
is ``[x, y]``.
Learned x and y embeddings of the chosen cell are added to the autoregressive embedding.
``score`` (teacher forcing) runs the transposed convolutions only on the rows whose action type uses a location,
and skips the last pixel shuffle: it scores the cells in the last convolution's phase order (``phase_index``), the
mask and the action reordered to match, so its recorded distribution lists the cells in that order.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from agents.heads.autoregressive import HeadOutput, add_where_used
from agents.heads.config import HeadsConfig
from agents.heads.distributions import categorical, score


class LocationHead(nn.Module):
    """[B, autoregressive_dim] -> a cell [B, 2] (x, y) of the grid among the allowed ``cells`` [B, R * R] (zeros
    where unused)."""

    def __init__(self, resolution: int, config: HeadsConfig) -> None:
        super().__init__()
        layers = len(config.location_channels)
        if resolution < 1 or resolution % 2**layers:
            raise ValueError(f"resolution {resolution} must be a multiple of 2**{layers} (location_channels)")
        self.config = config
        self.resolution = resolution
        self.base = resolution // 2**layers
        channels = (*config.location_channels, 1)
        self.project = nn.Linear(config.autoregressive_dim, channels[0] * self.base**2)
        upsample: list[nn.Module] = []
        for i in range(layers):
            upsample += [nn.ReLU(), nn.ConvTranspose2d(channels[i], channels[i + 1], 4, stride=2, padding=1)]
        self.upsample = nn.Sequential(*upsample)
        if layers > 1:  # see fused_weight
            self.register_buffer("fused_taps", fused_taps(channels[-2]), persistent=False)
        self.embed_x = nn.Embedding(resolution, config.autoregressive_dim)
        self.embed_y = nn.Embedding(resolution, config.autoregressive_dim)
        self._weights_cache: tuple[tuple, list[tuple[torch.Tensor, torch.Tensor]]] | None = None

    def logits(self, autoregressive_embedding: torch.Tensor, phase_order: bool = False) -> torch.Tensor:
        """[B, resolution * resolution] logits, flat index ``y * resolution + x`` (``phase_order``: in the order
        of ``phase_index``, the last pixel shuffle skipped)."""
        if not len(self.upsample):
            return self.project(autoregressive_embedding)
        (weight, bias), *inner, last = self._weights()
        batch = autoregressive_embedding.shape[0]
        maps = F.linear(autoregressive_embedding, weight, bias).view(batch, self.base, self.base, -1)  # [B, H, W, C]
        for convolution in inner:  # ReLU, then the 3x3 equivalent of a transposed convolution
            phases = F.conv2d(maps.relu_().permute(0, 3, 1, 2), *convolution, padding=1)  # channels (r, s, c)
            if convolution is inner[-1]:
                break  # the last convolution reads these phases as they are
            _, channels, height, width = phases.shape
            # its pixel shuffle, (h, w, r, (s, c)) -> (h, r, w, (s, c)): cell (2h + r, 2w + s) reads phase (r, s)
            maps = (phases.permute(0, 2, 3, 1).reshape(batch, height, width, 2, channels // 2).transpose(2, 3)
                    .reshape(batch, 2 * height, 2 * width, channels // 4))  # fmt: skip
        else:
            phases = maps.relu_().permute(0, 3, 1, 2)
        # [B, block * block phases, H, W], channels last: block 4 (two upsamplings at once) after a convolution
        phases = F.conv2d(phases.relu_() if inner else phases, *last, padding=1)
        if phase_order:
            return phases.permute(0, 2, 3, 1).flatten(1)  # channels last: a view
        # the last pixel shuffle (one channel) as a reshape: cell (block h + a, block w + b) reads phase (a, b)
        _, _, height, width = phases.shape
        block = self.block
        cells = phases.permute(0, 2, 3, 1).reshape(batch, height, width, block, block).transpose(2, 3)
        return cells.reshape(batch, block * block * height * width)

    def _weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The projection's weight and bias with its outputs reordered channels last, then each transposed
        convolution's 3x3 equivalent (``subpixel_weight``); without autograd (acting) computed once and kept until a
        parameter changes (loading weights or an optimiser step bumps its version counter)."""
        layers = [layer for layer in self.upsample if isinstance(layer, nn.ConvTranspose2d)]
        parameters = [self.project.weight, self.project.bias] + [p for layer in layers for p in (layer.weight,
                                                                                                   layer.bias)]
        if not torch.is_grad_enabled():
            key = tuple((p.data_ptr(), p._version) for p in parameters)
            if self._weights_cache is not None and self._weights_cache[0] == key:
                return self._weights_cache[1]
        channels = self.project.out_features // self.base**2
        order = torch.arange(self.project.out_features, device=self.project.weight.device)
        order = order.view(channels, self.base, self.base).permute(1, 2, 0).flatten()  # (c, h, w) -> (h, w, c)
        weights = [(self.project.weight[order], self.project.bias[order])]
        weights += [(subpixel_weight(layer.weight), layer.bias.repeat(4)) for layer in layers]
        if len(layers) > 1:  # the last two upsamplings in one convolution of the second to last one's phases
            last, bias = weights[-1]
            weights[-1] = fused_weight(last, self.fused_taps), bias.repeat(4)
        if not torch.is_grad_enabled():
            self._weights_cache = key, weights
        return weights

    @property
    def block(self) -> int:
        """The side of the block of cells one position of the last convolution gives (its phases): 4 when it does
        the last two upsamplings at once, 2 for one, 1 without upsampling."""
        return 2 ** min(len(self.upsample) // 2, 2)

    def phase_index(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Flat index of cell (``x``, ``y``) in the last convolution's output before its pixel shuffle, channels
        last: (y // block, x // block, y % block, x % block); ``y * resolution + x`` without upsampling."""
        block = self.block
        side = self.resolution // block
        return ((y // block) * side + x // block) * block * block + (y % block) * block + x % block

    def cells_in_phase_order(self, cells: torch.Tensor) -> torch.Tensor:
        """A [B, resolution * resolution] bool map (flat index ``y * resolution + x``) reordered as ``phase_index``."""
        block = self.block
        if block == 1:
            return cells
        side = self.resolution // block
        # the block's cells of one row (x = block j ... block j + block - 1) stay together: moved as one integer
        runs = cells.bool().contiguous().view(torch.int16 if block == 2 else torch.int32)
        return runs.unflatten(-1, (side, block, side)).permute(0, 1, 3, 2).flatten(1).view(torch.bool)

    def forward(
        self,
        autoregressive_embedding: torch.Tensor,
        cells: torch.Tensor,
        used: torch.Tensor,
        action: torch.Tensor | None = None,
        greedy: bool = False,
        temperature: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        with_entropy: bool = True,
    ) -> HeadOutput:
        used = used.bool()
        logits = self.logits(autoregressive_embedding)
        flat = None
        if action is not None:
            action = action.long()
            inside = ((action >= 0) & (action < self.resolution)).all(-1)
            flat = torch.where(inside, action[:, 1] * self.resolution + action[:, 0], -1)
        choice = categorical(
            logits,
            cells.bool(),
            used,
            action=flat,
            greedy=greedy,
            temperature=temperature,
            generator=generator,
            name="target_location",
            with_entropy=with_entropy,
        )
        x, y = choice.index % self.resolution, choice.index // self.resolution
        embedding = add_where_used(autoregressive_embedding, self.embed_x(x) + self.embed_y(y), used)
        cell = torch.where(used[:, None], torch.stack([x, y], dim=-1), 0)
        return HeadOutput(cell, choice.log_prob, choice.entropy, embedding)

    def score(
        self,
        autoregressive_embedding: torch.Tensor,
        cells: torch.Tensor,
        used: torch.Tensor,
        action: torch.Tensor,
        temperature: float | torch.Tensor = 1.0,
    ) -> HeadOutput:
        """``forward`` with the given ``action`` [B, 2], computed on the ``used`` rows only (the logits of the others
        are never needed)."""
        used = used.bool()
        rows = used.nonzero().squeeze(-1)
        action = action.long()
        if rows.numel() == 0:  # nothing to score (and no distribution to record)
            zeros = autoregressive_embedding.new_zeros(used.shape)
            return HeadOutput(torch.zeros_like(action), zeros, zeros, autoregressive_embedding)
        picked = action[rows]
        inside = ((picked >= 0) & (picked < self.resolution)).all(-1)
        flat = torch.where(inside, picked[:, 1] * self.resolution + picked[:, 0], -1)
        if isinstance(temperature, torch.Tensor) and temperature.dim():
            temperature = temperature[rows]
        embedding = autoregressive_embedding[rows]
        index = torch.where(inside, self.phase_index(picked[:, 0], picked[:, 1]), -1)
        allowed = self.cells_in_phase_order(cells[rows].bool())
        log_prob, entropy = score(self.logits(embedding, phase_order=True), allowed, index, used,
                                  temperature=temperature, name="target_location")  # fmt: skip
        x, y = flat % self.resolution, flat // self.resolution
        update = self.embed_x(x) + self.embed_y(y)
        scattered = update.new_zeros(autoregressive_embedding.shape).index_add(0, rows, update)
        embedding = autoregressive_embedding + scattered  # as add_where_used (and its dtype under autocast)
        cell = torch.zeros_like(action).index_copy(0, rows, torch.stack([x, y], dim=-1))
        return HeadOutput(cell, log_prob, entropy, embedding)


# Output row 2i + r of a ConvTranspose2d(kernel 4, stride 2, padding 1) reads input row i + d through kernel row
# r - 2d + 1: offsets d = -1, 0, 1 (the 3x3 window); KERNEL_ROW[r][d + 1] is that kernel row, 4 where none (a zero).
KERNEL_ROW = ((3, 1, 4), (4, 2, 0))


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """The weight [4 * Cout, Cin, 3, 3] of the 3x3 convolution (padding 1) whose output, its channels ordered
    (r, s, c) and pixel-shuffled by 2, is the ConvTranspose2d(kernel 4, stride 2, padding 1) of ``weight``
    [Cin, Cout, 4, 4] (differentiable)."""
    cin, cout = weight.shape[:2]
    padded = F.pad(weight, (0, 1, 0, 1))  # kernel index 4 reads a zero
    rows = torch.tensor(KERNEL_ROW, device=weight.device)  # [2 (r), 3 (d)]
    taps = padded[:, :, rows[:, :, None, None], rows[None, None]]  # [Cin, Cout, 2 (r), 3 (d), 2 (s), 3 (e)]
    return taps.permute(2, 4, 1, 0, 3, 5).reshape(4 * cout, cin, 3, 3)


def fused_taps(channels: int) -> torch.Tensor:
    """Where each entry of ``fused_weight``'s result reads the last convolution's 3x3 weight of ``channels`` input
    channels (flattened, with a zero appended for the entries that are zero): [16, 4 * channels, 3, 3]."""
    index = torch.full((16, 4 * channels, 3, 3), 4 * channels * 9, dtype=torch.long)
    for r, r2, s, s2, rp, sp, di, dk in itertools.product(range(2), range(2), range(2), range(2), range(2), range(2),
                                                          range(3), range(3)):  # fmt: skip
        d, e = 2 * (di - 1) + rp - r, 2 * (dk - 1) + sp - s  # the finer map's offset this tap reads
        if -1 <= d <= 1 and -1 <= e <= 1:
            source = ((r2 * 2 + s2) * channels + torch.arange(channels)) * 9 + (d + 1) * 3 + e + 1
            index[((r * 2 + r2) * 2 + s) * 2 + s2, (rp * 2 + sp) * channels + torch.arange(channels), di, dk] = source
    return index


def fused_weight(weight: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """The last convolution's 3x3 weight [4 (r2, s2), C, 3, 3] (one output channel) rewritten to read the previous
    convolution's phases [4C (r, s, c)] before their pixel shuffle: [16 (r, r2, s, s2), 4C, 3, 3], whose output
    phase (r, r2, s, s2) at (h, w) is cell (4h + 2r + r2, 4w + 2s + s2) (differentiable). The finer map's row
    2h + r + d is phase ((r + d) mod 2) at h + (r + d) // 2, so the two convolutions and the shuffle between them
    are one 3x3 convolution on the coarse grid: its zero padding is the finer map's, and 16 outputs a position
    keep oneDNN busy where 4 a finer position did not (~2x less time, to float rounding). ``taps``:
    ``fused_taps`` of its input channels."""
    return F.pad(weight.flatten(), (0, 1))[taps]
