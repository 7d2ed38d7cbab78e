"""The model backends of click segmentation: SAM from a local transformers folder (a tiny random
config here: plumbing, not quality) and the learned click segmenter from a checkpoint, each
registered only when its setting names weights, and both reachable through the endpoint."""

from __future__ import annotations

import numpy as np
import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.roles import Role
from catalog.rle import rle_to_mask
from segmentation.backends import Box, Click, known_backends, unregister
from tests.segmentation.test_segmentation import import_mvtec_image

torch = pytest.importorskip("torch")  # the `train` extra; without it these backends cannot exist
pytest.importorskip("transformers")

URL = "/api/annotation/segment/"


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    """A randomly initialised SamModel of a few thousand weights and its processor, saved as a user's folder would be."""
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor

    config = SamConfig(
        vision_config={
            "hidden_size": 32,
            "output_channels": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 16,
            "window_size": 2,
            "global_attn_indexes": [1],
            "num_pos_feats": 16,
            "mlp_dim": 64,
        },
        prompt_encoder_config={"hidden_size": 32, "image_size": 64, "patch_size": 16, "mask_input_channels": 4},
        mask_decoder_config={
            "hidden_size": 32,
            "mlp_dim": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": 32,
        },
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sam-tiny")
    SamModel(config).save_pretrained(folder)
    processor = SamImageProcessor(
        size={"longest_edge": 64},
        pad_size={"height": 64, "width": 64},
        mask_size={"longest_edge": 16},
        mask_pad_size={"height": 16, "width": 16},
    )
    SamProcessor(image_processor=processor).save_pretrained(folder)
    return folder


@pytest.fixture
def registered():
    """Backends registered by a test are removed after it, so every test sees the default registry."""
    before = set(known_backends())
    yield
    for name in set(known_backends()) - before:
        unregister(name)


@pytest.fixture
def sample(tmp_path, real_data, db):
    return import_mvtec_image(tmp_path / "mvtec", real_data, "contamination", "002")


@pytest.fixture
def api(client_for):
    return client_for(Role.ANNOTATOR)


@pytest.fixture(scope="module")
def tiny_sam2(tmp_path_factory):
    """A randomly initialised Sam2Model (Hiera image encoder, a few hundred thousand weights) and its
    processor, saved as a user's folder would be."""
    from transformers import Sam2Config, Sam2ImageProcessor, Sam2Model, Sam2Processor

    config = Sam2Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam2_hiera_det_model",
                "hidden_size": 16,
                "image_size": [128, 128],
                "blocks_per_stage": [1, 1, 2, 1],
                "embed_dim_per_stage": [16, 32, 64, 128],
                "num_attention_heads_per_stage": [1, 1, 2, 2],
                "window_size_per_stage": [4, 4, 4, 2],
                "global_attention_blocks": [3],  # not a stage's first block, which pools its queries
                "window_positional_embedding_background_size": [2, 2],
            },
            "backbone_channel_list": [128, 64, 32, 16],
            "backbone_feature_sizes": [[32, 32], [16, 16], [8, 8]],
            "fpn_hidden_size": 32,
        },
        prompt_encoder_config={"hidden_size": 32, "image_size": 128, "patch_size": 16, "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": 32, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sam2-tiny")
    Sam2Model(config).save_pretrained(folder)
    processor = Sam2ImageProcessor(size={"height": 128, "width": 128}, mask_size={"height": 32, "width": 32})
    Sam2Processor(image_processor=processor).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("folder", "backend_class"), [("tiny_sam", "SamBackend"), ("tiny_sam2", "Sam2Backend")])
def test_sam_backends_take_clicks_and_boxes_and_cache_the_image_embedding(folder, backend_class, request):
    from segmentation.sam import sam_backend_from_folder

    backend = sam_backend_from_folder(request.getfixturevalue(folder))
    assert type(backend).__name__ == backend_class  # chosen by the folder's config.json
    image = np.random.default_rng(0).integers(0, 256, (512, 400, 3), dtype=np.uint8)
    clicked = backend.segment(image, [Click(200, 220, True), Click(40, 40, False)], None)
    boxed = backend.segment(image, [], None, box=Box(100, 100, 200, 150))
    both = backend.segment(image, [Click(200, 220, True)], clicked, box=Box(100, 100, 200, 150))
    for mask in (clicked, boxed, both):
        assert mask.shape == (512, 400) and mask.dtype == bool
    assert backend.encoder_runs == 1  # three prompts, one image embedding
    with pytest.raises(ValueError, match="at least one click or a box"):
        backend.segment(image, [], None)


def test_a_sam2_folder_is_registered_under_sam_and_served_by_the_endpoint(tiny_sam2, registered, api, sample):
    with override_settings(SEGMENT_SAM_PATH=str(tiny_sam2)):
        apps.get_app_config("segmentation").ready()
    listed = {b["name"]: b for b in api.get(URL + "backends/").json()}
    assert listed["sam"]["accepts_box"] is True and "SAM 2" in listed["sam"]["description"]
    body = {"sample": sample.pk, "backend": "sam", "clicks": [{"x": 200, "y": 200, "positive": True}]}
    response = api.post(URL, body | {"box": [150, 150, 120, 100]}, format="json")
    assert response.status_code == 200, response.json()
    assert rle_to_mask(response.json()["mask"]).shape == (512, 512)


def test_a_folder_of_another_model_type_is_named_in_the_error(tmp_path, registered):
    (tmp_path / "config.json").write_text('{"model_type": "sam_hq"}')
    with override_settings(SEGMENT_SAM_PATH=str(tmp_path)), pytest.raises(ImproperlyConfigured, match="'sam_hq'"):
        apps.get_app_config("segmentation").ready()


def test_sam_is_registered_from_its_setting_and_served_by_the_endpoint(tiny_sam, registered, api, sample):
    config = apps.get_app_config("segmentation")
    with override_settings(SEGMENT_SAM_PATH=""):
        config.ready()
    assert "sam" not in known_backends()  # no folder, no backend
    with override_settings(SEGMENT_SAM_PATH=str(tiny_sam)):
        config.ready()
    listed = {b["name"]: b for b in api.get(URL + "backends/").json()}
    assert listed["sam"]["accepts_box"] is True and listed["grabcut"]["accepts_box"] is False

    body = {"sample": sample.pk, "backend": "sam", "clicks": [], "box": [150, 150, 120, 100]}
    response = api.post(URL, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["backend"] == "sam"
    assert rle_to_mask(response.json()["mask"]).shape == (512, 512)
    clicks = [{"x": 200, "y": 200, "positive": True}]
    response = api.post(URL, {"sample": sample.pk, "backend": "sam", "clicks": clicks}, format="json")
    assert response.status_code == 200, response.json()


def test_a_sam_folder_that_is_not_one_stops_the_start(tmp_path, registered):
    with override_settings(SEGMENT_SAM_PATH=str(tmp_path)), pytest.raises(ImproperlyConfigured, match="config.json"):
        apps.get_app_config("segmentation").ready()


def test_boxes_are_checked(api, sample, tiny_sam, registered):
    from segmentation.backends import register
    from segmentation.sam import SamBackend

    clicks = [{"x": 200, "y": 200, "positive": True}]
    response = api.post(URL, {"sample": sample.pk, "clicks": clicks, "box": [0, 0, 10, 10]}, format="json")
    assert response.status_code == 400
    assert "grabcut takes no box" in response.json()["errors"]["box"][0]
    register(SamBackend(tiny_sam))
    for box, message in (
        ([0, 0, 10], "[x, y, width, height]"),
        ([500, 500, 20, 20], "outside the 512x512 image"),
        ([10, 10, 0, 5], "empty"),
    ):
        response = api.post(URL, {"sample": sample.pk, "backend": "sam", "clicks": [], "box": box}, format="json")
        assert response.status_code == 400 and message in response.json()["errors"]["box"][0], response.json()
    response = api.post(URL, {"sample": sample.pk, "backend": "sam", "clicks": []}, format="json")
    assert response.status_code == 400 and "clicks" in response.json()["errors"]


def test_the_learned_backend_needs_a_checkpoint_and_then_serves_clicks(tmp_path, registered, api, sample):
    from modeling.core.checkpoint import save_checkpoint
    from modeling.core.click_segmenter import ClickSegmenter, config_to_dict, load_click_config

    config = apps.get_app_config("modeling")
    with override_settings(SEGMENT_LEARNED_CHECKPOINT=""):
        config.ready()
    assert "learned" not in known_backends()  # never random weights: no checkpoint, no backend
    with (
        override_settings(SEGMENT_LEARNED_CHECKPOINT=str(tmp_path / "nothing")),
        pytest.raises(ImproperlyConfigured, match="no checkpoint"),
    ):
        config.ready()

    # zoom_in off: the second click sees the whole image again, so its encoding is the cached one.
    click_config = load_click_config("tiny", ["image_size=128", "crop_size=128", "zoom_in=false"])
    torch.manual_seed(0)
    save_checkpoint(
        tmp_path / "run",
        model=ClickSegmenter(click_config),
        meta={"stage": "click", "step": 1, "config": config_to_dict(click_config), "examples": 3},
    )
    with override_settings(SEGMENT_LEARNED_CHECKPOINT=str(tmp_path / "run")):
        config.ready()
    backend = known_backends()["learned"]
    clicks = [{"x": 200, "y": 200, "positive": True}]
    first = api.post(URL, {"sample": sample.pk, "backend": "learned", "clicks": clicks}, format="json")
    assert first.status_code == 200, first.json()
    assert first.json()["backend"] == "learned" and rle_to_mask(first.json()["mask"])[200, 200]
    body = {
        "sample": sample.pk,
        "backend": "learned",
        "clicks": clicks + [{"x": 300, "y": 300, "positive": False}],
        "previous_mask": first.json()["mask"],
    }
    second = api.post(URL, body, format="json")
    assert second.status_code == 200 and not rle_to_mask(second.json()["mask"])[300, 300]
    assert backend.predictor.encoder_runs == 1  # the second click reused the image encoding
