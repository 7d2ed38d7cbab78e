"""Stage 2 losses: Hungarian matching of queries to ground-truth masks, then class CE + mask BCE + dice,
and the caption grounding loss.

Shapes: B images, Q queries, C classes (+1 for "no object" at index C), K_b targets in image b,
P pixels of a mask at the prediction's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


@dataclass
class LossWeights:
    class_weight: float = 2.0
    mask_bce_weight: float = 5.0
    dice_weight: float = 5.0
    no_object_weight: float = 0.1


def pairwise_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """logits: (Q, P), targets: (K, P) in [0, 1] -> (Q, K) mean binary cross-entropy over pixels."""
    positive = F.softplus(-logits)  # -log sigmoid(x)
    negative = F.softplus(logits)  # -log (1 - sigmoid(x))
    return (positive @ targets.T + negative @ (1 - targets).T) / logits.shape[1]


def pairwise_dice(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """logits: (Q, P), targets: (K, P) -> (Q, K) dice loss 1 - 2|A n B| / (|A| + |B|), smoothed by 1."""
    probabilities = logits.sigmoid()
    intersection = probabilities @ targets.T
    return 1 - (2 * intersection + 1) / (probabilities.sum(-1)[:, None] + targets.sum(-1)[None, :] + 1)


@torch.no_grad()
def hungarian_match(
    class_logits: torch.Tensor, mask_logits: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor, w: LossWeights
) -> tuple[torch.Tensor, torch.Tensor]:
    """One image: class_logits (Q, C+1), mask_logits (Q, P), labels (K,), masks (K, P).

    Returns:
        (query_indices, target_indices), each (min(Q, K),), the assignment of least total cost.
    """
    cost = -class_logits.float().softmax(-1)[:, labels] * w.class_weight
    cost = cost + pairwise_bce(mask_logits.float(), masks) * w.mask_bce_weight
    cost = cost + pairwise_dice(mask_logits.float(), masks) * w.dice_weight
    queries, targets = linear_sum_assignment(cost.cpu().numpy())
    return torch.as_tensor(queries, dtype=torch.long), torch.as_tensor(targets, dtype=torch.long)


def resize_targets(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(K, H, W) bool -> (K, h, w) float soft masks (area-averaged) at the prediction's resolution."""
    if masks.shape[0] == 0:
        return masks.new_zeros((0, *size), dtype=torch.float32)
    return F.interpolate(masks[:, None].float(), size=size, mode="area")[:, 0]


def set_loss(
    class_logits: torch.Tensor,
    mask_logits: torch.Tensor,
    target_labels: list[torch.Tensor],
    target_masks: list[torch.Tensor],
    w: LossWeights,
) -> dict[str, torch.Tensor]:
    """Mask2Former's set prediction loss for one decoder layer.

    Args:
        class_logits: (B, Q, C+1); the last class is "no object".
        mask_logits: (B, Q, h, w).
        target_labels: B tensors (K_b,) in [0, C).
        target_masks: B tensors (K_b, h, w) of soft masks at the prediction's resolution.
    Returns:
        {"class": CE over all queries, "mask_bce": mean BCE of matched masks, "dice": mean dice of matched masks}
    """
    batch, queries, num_classes_plus_void = class_logits.shape
    void = num_classes_plus_void - 1
    classes = torch.full((batch, queries), void, dtype=torch.long, device=class_logits.device)
    matched_logits, matched_targets = [], []
    for b in range(batch):
        if target_labels[b].numel() == 0:
            continue
        flat_logits = mask_logits[b].flatten(1)
        flat_targets = target_masks[b].flatten(1).to(flat_logits.device)
        query_idx, target_idx = hungarian_match(
            class_logits[b], flat_logits, target_labels[b].to(class_logits.device), flat_targets, w
        )
        classes[b, query_idx] = target_labels[b].to(class_logits.device)[target_idx]
        matched_logits.append(flat_logits[query_idx])
        matched_targets.append(flat_targets[target_idx])
    class_weights = torch.ones(num_classes_plus_void, device=class_logits.device)
    class_weights[void] = w.no_object_weight
    losses = {"class": F.cross_entropy(class_logits.float().transpose(1, 2), classes, weight=class_weights)}
    if matched_logits:
        logits = torch.cat(matched_logits).float()
        targets = torch.cat(matched_targets)
        losses["mask_bce"] = F.binary_cross_entropy_with_logits(logits, targets)
        losses["dice"] = pairwise_dice(logits, targets).diagonal().mean()
    else:  # no target in the batch: keep the graph connected so DDP sees every parameter used
        zero = mask_logits.sum() * 0.0
        losses["mask_bce"] = zero
        losses["dice"] = zero
    return losses


def grounding_loss(
    query_embeddings: torch.Tensor,
    word_embeddings: torch.Tensor,
    word_mask: torch.Tensor,
    logit_scale: torch.Tensor,
    same_caption: torch.Tensor | None = None,
) -> torch.Tensor:
    """Contrastive image-caption loss through the masks: an image matches its own caption best.

    The score of image i for caption j is the mean, over the words of j, of the best-matching query
    of image i (cosine similarity); cross-entropy over the batch both ways. Captions that say the
    same thing (same_caption[i, j]: two bottles whose captions name the same terms) are all right
    answers: counting them as wrong would ask the model to tell apart what the text cannot, a loss
    no model can lower (ln 2 for such a pair) and gradients that pull against each other.

    Args:
        query_embeddings: (B, Q, E) L2-normalised.
        word_embeddings: (B, L, E) L2-normalised caption token embeddings.
        word_mask: (B, L) True for real words.
        logit_scale: scalar temperature multiplier.
        same_caption: (B, B) bool, symmetric, True on the diagonal; None: every caption is its own.
    """
    if query_embeddings.shape[0] < 2:
        return query_embeddings.sum() * 0.0
    similarity = torch.einsum("iqe,jle->ijql", query_embeddings, word_embeddings).amax(dim=2)  # (B, B, L)
    weights = word_mask.float()[None]  # (1, B, L)
    scores = (similarity * weights).sum(-1) / weights.sum(-1).clamp(min=1)  # (B, B)
    logits = logit_scale * scores
    if same_caption is None:
        same_caption = torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)
    right = same_caption.to(logits.device)
    # -log(the probability of the right answers), for each image over captions and each caption over images.
    wrong = torch.finfo(logits.dtype).min
    per_image = logits.logsumexp(1) - logits.masked_fill(~right, wrong).logsumexp(1)
    per_caption = logits.logsumexp(0) - logits.masked_fill(~right, wrong).logsumexp(0)
    return (per_image.mean() + per_caption.mean()) / 2


def grounding_chance(same_caption: torch.Tensor) -> float:
    """What grounding_loss is when the scores cannot tell the captions apart (all equal):
    the mean of ln(B / right answers). ln B when every caption is its own."""
    batch = same_caption.shape[0]
    if batch < 2:
        return 0.0
    return float(torch.log(batch / same_caption.sum(1).float()).mean())
