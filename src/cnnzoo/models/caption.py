"""Image captioning with soft attention: a zoo CNN encoder and an LSTM decoder.

K. Xu, J. Ba, R. Kiros, K. Cho, A. Courville, R. Salakhutdinov, R. Zemel, Y. Bengio. Show,
Attend and Tell: Neural Image Caption Generation with Visual Attention. ICML, 2015.

The encoder's last feature map (C x H' x W') gives L = H' * W' annotation vectors a_i. Per word:
``e_ti = w^T tanh(W_a a_i + W_h h_{t-1})``, ``alpha_t = softmax(e_t)``, the context
``z_t = beta_t * sum_i alpha_ti a_i`` with the paper's gate ``beta_t = sigmoid(f_beta(h_{t-1}))``,
and ``h_t, c_t = LSTM([E y_{t-1}, z_t], (h_{t-1}, c_{t-1}))``; ``h_0, c_0`` are MLPs of the
mean annotation, as in the paper.

Deviations: each annotation vector gets its (x, y) position appended (the paper's VGG features
carry position through zero padding; this small unpadded encoder does not); the output layer is ``W_o dropout(h_t)`` instead of the paper's deep output
``L_o(E y_{t-1} + L_h h_t + L_z z_t)``; the doubly stochastic attention penalty is left to the
training loop (its weight defaults to 0 there: a 3-5 word caption cannot attend to every one of
the 22 places once). The encoder is any zoo model with a ``features`` stage stack; when its
classifier starts with a linear layer over a k x k map (the course's nets), that layer runs as a
k x k convolution over the strip's map, so each place's annotation is the digit classifier's
penultimate feature of the 28x28 window there (22 places on a 28x112 strip).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.registry import Paper, create_model, register_model

__all__ = [
    "CAPTION_WORDS",
    "END",
    "PAD",
    "START",
    "ShowAttendTell",
    "caption_loss",
    "window_from_linear",
]

XU = Paper(
    authors="K. Xu, J. Ba, R. Kiros, K. Cho, A. Courville, R. Salakhutdinov, R. Zemel, Y. Bengio",
    title="Show, Attend and Tell: Neural Image Caption Generation with Visual Attention",
    year=2015,
    venue="ICML",
    url="https://arxiv.org/abs/1502.03044",
)

# Token 0 pads, 1 starts, 2 ends a caption; then the ten digit words.
CAPTION_WORDS = (
    "<pad>", "<start>", "<end>",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
PAD, START, END = 0, 1, 2


class ShowAttendTell(nn.Module):
    """``forward(images, captions)`` -> ``(logits (N, T, vocab), alphas (N, T, L))`` with teacher
    forcing on ``captions`` (``<start> w1 .. wn <end>``, padded); without captions, ``max_len``
    greedy steps (used by ``summary``)."""

    def __init__(
        self,
        num_classes: int = len(CAPTION_WORDS),
        in_chans: int = 1,
        encoder: str = "fashion_deeper_m2",
        embed: int = 32,
        hidden: int = 128,
        attention: int = 64,
        dropout: float = 0.2,
        max_len: int = 5,
    ) -> None:
        super().__init__()
        cnn = create_model(encoder, in_chans=in_chans)
        if not isinstance(getattr(cnn, "features", None), nn.Module):
            raise ValueError(
                f"encoder {encoder!r} has no `features` stage stack; use a zoo model that has one "
                "(e.g. fashion_deeper_m2, fashion_cnn, lenet5, vgg11)"
            )
        self.num_classes, self.in_chans, self.max_len = num_classes, in_chans, max_len
        self.encoder = nn.Sequential()
        self.encoder.add_module("features", cnn.features)
        channels = _channels(cnn.features, in_chans)
        first = getattr(cnn, "classifier", None)
        first = first[0] if isinstance(first, nn.Sequential) else None
        if isinstance(first, nn.Linear) and first.in_features % channels == 0:
            # The classifier's first fully connected layer run as a convolution over the map
            # (OverFeat-style): each place gets the digit features of the 28x28 window there.
            k = round((first.in_features // channels) ** 0.5)
            self.encoder.add_module("window", nn.Conv2d(channels, first.out_features, k))
            self.encoder.add_module("window_act", nn.ReLU())
            channels = first.out_features
        channels += 2  # + the (x, y) coordinates of each place
        self.embed = nn.Embedding(num_classes, embed)
        self.init_h = nn.Linear(channels, hidden)
        self.init_c = nn.Linear(channels, hidden)
        self.att_features = nn.Linear(channels, attention)
        self.att_hidden = nn.Linear(hidden, attention)
        self.att_score = nn.Linear(attention, 1)
        self.gate = nn.Linear(hidden, 1)
        self.cell = nn.LSTMCell(embed + channels, hidden)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Annotation vectors ``(N, L, C + 2)``: the encoder's last feature map plus each place's
        (x, y) in [-1, 1]. Without them attention could not tell the first digit from the second
        (unpadded convolutions and pooling carry no absolute position)."""
        maps = self.encoder(images)
        n, _, h, w = maps.shape
        ys = torch.linspace(-1, 1, h, device=maps.device, dtype=maps.dtype)
        xs = torch.linspace(-1, 1, w, device=maps.device, dtype=maps.dtype)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy")).expand(n, -1, -1, -1)
        return torch.cat([maps, grid], dim=1).flatten(2).transpose(1, 2)

    def init_state(self, annotations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = annotations.mean(1)
        return torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def step(
        self,
        words: torch.Tensor,
        annotations: torch.Tensor,
        projected: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One word: ``(logits (N, vocab), alpha (N, L), new state)``; ``projected`` is
        ``W_a a`` (computed once per image)."""
        h, c = state
        scores = self.att_score(torch.tanh(projected + self.att_hidden(h)[:, None])).squeeze(2)
        alpha = torch.softmax(scores, dim=1)
        context = torch.sigmoid(self.gate(h)) * (alpha[:, :, None] * annotations).sum(1)
        h, c = self.cell(torch.cat([self.embed(words), context], dim=1), (h, c))
        return self.head(self.drop(h)), alpha, (h, c)

    def forward(
        self, images: torch.Tensor, captions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        annotations = self.encode(images)
        projected = self.att_features(annotations)
        state = self.init_state(annotations)
        steps = self.max_len if captions is None else captions.shape[1] - 1
        words = torch.full((images.shape[0],), START, dtype=torch.long, device=images.device)
        logits, alphas = [], []
        for t in range(steps):
            if captions is not None:
                words = captions[:, t]
            out, alpha, state = self.step(words, annotations, projected, state)
            logits.append(out)
            alphas.append(alpha)
            if captions is None:
                words = out.argmax(1)
        return torch.stack(logits, 1), torch.stack(alphas, 1)


def window_from_linear(window: nn.Conv2d, linear: nn.Linear) -> None:
    """Copy a classifier's first linear layer (over a flattened C x k x k map) into the window
    convolution: the same weights, laid out as (out, C, k, k)."""
    with torch.no_grad():
        window.weight.copy_(linear.weight.view_as(window.weight))
        window.bias.copy_(linear.bias)


def _channels(encoder: nn.Module, in_chans: int) -> int:
    with torch.device("meta"):
        return int(encoder(torch.empty(1, in_chans, 28, 112)).shape[1])


def caption_loss(logits: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each next word, padding ignored."""
    return F.cross_entropy(logits.flatten(0, 1), captions[:, 1:].flatten(), ignore_index=PAD)


@register_model(
    paper=XU,
    input_size=(1, 28, 112),
    num_classes=len(CAPTION_WORDS),
    task="caption",
    family="caption",
    params=425_711,
    macs=17_090_816,
    dataset="strips of 2-4 MNIST digits",
    reported="The paper's VGG + LSTM is far larger.",
    notes="encoder fashion_deeper_m2's features + its fc1 as a 5x5 window conv (22 places x 128 "
    "+ (x, y) on 28x112), LSTM 128, attention 64, embedding 32; MACs for 5 greedy steps",
    no_figures="our small-input captioner of MNIST digit strips: no source counts or scores it",
)
def caption_attention_lstm(
    num_classes: int = len(CAPTION_WORDS), in_chans: int = 1, **kwargs
) -> ShowAttendTell:
    """Show, attend and tell on MNIST digit strips."""
    return ShowAttendTell(num_classes, in_chans, **kwargs)
