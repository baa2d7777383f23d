"""The pretext tasks' input transforms: rotations, sub-clip shuffles, reversal, tube masks."""

import itertools

import pytest
import torch

from vidssl.backbones import create_backbone
from vidssl.errors import VidsslError
from vidssl.methods import METHODS
from vidssl.methods.arrow_of_time import ArrowOfTime
from vidssl.methods.clip_order import ClipOrder, shuffle_subclips
from vidssl.methods.masked_video import patchify, tube_mask
from vidssl.methods.rotnet import rotate
from vidssl.modules.step_rng import balanced_labels


def test_rotate_turns_every_frame_by_the_same_quarter_turns():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 1, 3, 2, 2).expand(2, 3, 3, 2, 2)
    out = rotate(x, torch.tensor([0, 1]))
    assert torch.equal(out[0], x[0])
    for t in range(3):  # counter-clockwise: the top-right pixel moves to the top-left
        frame, turned = x[1, 0, t], out[1, 0, t]
        assert turned[0, 0] == frame[0, 1] and turned[1, 0] == frame[0, 0]
    assert torch.equal(rotate(rotate(x, torch.tensor([1, 3])), torch.tensor([3, 1])), x)


def test_balanced_labels_use_every_class_equally():
    y = balanced_labels(24, 6, torch.Generator().manual_seed(0))
    assert torch.equal(torch.bincount(y), torch.full((6,), 4))


def test_shuffle_subclips_puts_subclip_order_j_at_position_j():
    frame_index = torch.arange(6, dtype=torch.float32).view(1, 1, 6, 1, 1).expand(6, 1, 6, 2, 2)  # 6 clips
    order = torch.tensor(list(itertools.permutations(range(3))))  # every permutation once
    out = shuffle_subclips(frame_index, order)  # N x 3 x C x 2 x H x W
    for i, perm in enumerate(order.tolist()):
        for j, src in enumerate(perm):
            assert out[i, j, 0, :, 0, 0].tolist() == [2 * src, 2 * src + 1]


def test_clip_order_needs_frames_divisible_by_the_number_of_subclips():
    model = ClipOrder(create_backbone("r3d10", width=0.0625), head_hidden=8)
    with pytest.raises(ValueError, match="multiple of 3; got 8") as err:
        model([torch.randn(2, 3, 8, 16, 16)])
    assert isinstance(err.value, VidsslError)  # the CLI prints it as one line


def test_arrow_of_time_reverses_exactly_half_the_batch():
    model = ArrowOfTime(create_backbone("r3d10", width=0.0625))
    seen = []
    model.backbone.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    x = torch.randn(8, 3, 4, 8, 8)
    with torch.no_grad():
        model([x])
    reversed_ = [torch.equal(a, b.flip(1)) for a, b in zip(seen[0], x)]
    kept = [torch.equal(a, b) for a, b in zip(seen[0], x)]
    assert sum(reversed_) == 4 and all(r != k for r, k in zip(reversed_, kept))


def test_tube_mask_masks_the_same_patches_in_every_frame():
    mask = tube_mask(3, 16, 0.75, 5, torch.Generator().manual_seed(0)).view(3, 5, 16)
    assert (mask == mask[:, :1]).all() and (mask.sum(2) == 12).all()
    assert not torch.equal(mask[0], mask[1])  # a fresh mask per clip


def test_patchify_orders_patches_by_time_row_column():
    x = torch.randn(2, 3, 4, 8, 12)
    patches = patchify(x, 4)  # 4 frames x 2 rows x 3 columns of 4 x 4 patches
    assert patches.shape == (2, 24, 48)
    t, r, c = 3, 1, 2
    assert torch.equal(patches[1, t * 6 + r * 3 + c], x[1, :, t, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4].flatten())


def test_registered_classes_declare_how_many_views_they_take():
    # the registry's classes carry num_views, which the data loader reads before building the method
    assert {name: cls.num_views for name, cls in METHODS.items()} == {
        "simclr": 2, "moco_v1": 2, "moco_v2": 2, "byol": 2,
        "rotnet": 1, "clip_order": 1, "arrow_of_time": 1, "masked_video": 1,
        "order_verification": 1, "odd_one_out": 1, "future_prediction": 1, "colorization": 1, "dpc": 1,
        "audio_visual": 1,
    }


def test_rotnet_and_masked_video_reject_clips_they_cannot_use():
    backbone = create_backbone("r3d10", width=0.0625)
    with pytest.raises(VidsslError, match="square"):
        METHODS["rotnet"](backbone)([torch.randn(2, 3, 4, 16, 12)])
    with pytest.raises(VidsslError, match="--crop-size must be a multiple of 4"):
        METHODS["masked_video"](backbone, head_hidden=8)([torch.randn(2, 3, 4, 18, 18)])


def test_masked_video_scores_exactly_the_patches_it_zeroed(monkeypatch):
    """The pixels zeroed in the backbone's input are the patches the reconstruction loss is averaged over,
    and its target is the unmasked clip (non-square frames, so a swapped row/column order shows)."""
    from vidssl.methods import masked_video

    model = METHODS["masked_video"](create_backbone("r3d10", width=0.0625), head_hidden=8)
    seen, scored = [], {}
    model.backbone.stem.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    real_loss = masked_video.masked_reconstruction_loss

    def recording(pred, target, mask, **kw):
        scored.update(target=target, mask=mask)
        return real_loss(pred, target, mask, **kw)

    monkeypatch.setattr(masked_video, "masked_reconstruction_loss", recording)
    x = torch.rand(3, 3, 4, 8, 12) + 0.5  # no pixel is 0 before masking
    with torch.no_grad():
        model([x])
    zeroed = patchify((seen[0] == 0).float(), 4)  # N x L x 3pp: 1 where an input pixel was zeroed
    assert ((zeroed == 0) | (zeroed == 1)).all() and (zeroed == zeroed[..., :1]).all()  # whole patches only
    assert torch.equal(zeroed[..., 0], scored["mask"])  # zeroed patches == scored patches
    assert torch.equal(seen[0][seen[0] != 0], x[seen[0] != 0])  # the rest of the clip is untouched
    assert torch.equal(scored["target"], patchify(x, 4))  # scored against the clip before masking
    assert 0 < scored["mask"].mean() < 1


def test_order_verification_takes_the_window_with_the_most_motion():
    from vidssl.methods.order_verification import most_motion_window

    x = torch.zeros(2, 1, 8, 2, 2)
    x[0, :, 5:] = torch.arange(1, 4, dtype=torch.float32).view(1, 3, 1, 1) * 10  # clip 0 moves at its end
    x[1, :, :3] = torch.arange(3, dtype=torch.float32).view(1, 3, 1, 1)  # clip 1 at its start
    x[:, :, :, 0, 0] += torch.arange(8.0)  # a frame index in one pixel, to see which frames were taken
    out = most_motion_window(x, 4)
    assert out[:, 0, :, 0, 0].tolist() == [[4.0, 15.0, 26.0, 37.0], [0.0, 2.0, 4.0, 3.0]]
    assert torch.equal(most_motion_window(x, 8), x)


def test_order_verification_tuples_are_b_c_d_in_order_and_b_a_d_or_b_e_d_out_of_order():
    from vidssl.methods.order_verification import order_tuples

    frame = torch.arange(10, dtype=torch.float32).view(1, 1, 10, 1, 1).expand(3, 1, 10, 2, 2)  # 5 sub-clips of 2
    out = order_tuples(frame, 2, torch.tensor([1, 0, 0]), torch.tensor([False, False, True]))
    firsts = out[:, :, 0, 0, 0, 0] / 2  # which sub-clip sits at each place of each tuple
    assert firsts.tolist() == [[1, 2, 3], [1, 0, 3], [1, 4, 3]]
    assert torch.equal(out[0, 0, 0, :, 0, 0], torch.tensor([2.0, 3.0]))  # a sub-clip keeps its frames in order


def test_order_verification_labels_say_in_order_exactly_when_the_backbone_sees_b_c_d(monkeypatch):
    import vidssl.methods.order_verification as ov

    model = ov.OrderVerification(create_backbone("r3d10", width=0.0625), head_hidden=8, sub_frames=2)
    seen, labels = [], []
    model.backbone.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    real_ce = torch.nn.functional.cross_entropy
    monkeypatch.setattr(ov.F, "cross_entropy", lambda logits, y: (labels.append(y), real_ce(logits, y))[1])
    x = torch.arange(10, dtype=torch.float32).view(1, 1, 10, 1, 1).expand(8, 3, 10, 8, 8).contiguous()
    with torch.no_grad():
        model([x])
    firsts = (seen[0][:, 0, 0, 0, 0] / 2).view(8, 3).tolist()
    for y, tup in zip(labels[0].tolist(), firsts):
        assert (tup == [1, 2, 3]) == (y == 1) and tup[0] == 1 and tup[2] == 3
    assert sum(labels[0].tolist()) == 4  # half in order
    with pytest.raises(VidsslError, match="at least 10; got 8"):
        model([torch.randn(2, 3, 8, 8, 8)])


def test_odd_one_out_disorders_exactly_one_sub_clip_per_clip():
    from vidssl.methods.odd_one_out import OddOneOut

    model = OddOneOut(create_backbone("r3d10", width=0.0625), head_hidden=8)
    seen = []
    model.backbone.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    x = torch.arange(9, dtype=torch.float32).view(1, 1, 9, 1, 1).expand(6, 3, 9, 4, 4).contiguous()
    with torch.no_grad():
        model([x])
    order = seen[0][:, 0, :, 0, 0].view(6, 3, 3)  # clip x sub-clip x frame index
    odd = []
    for clip in order:
        assert sorted(clip.flatten().tolist()) == list(range(9))  # the same frames, each sub-clip's own
        in_order = [c.tolist() == sorted(c.tolist()) for c in clip]
        assert in_order.count(False) == 1
        odd.append(in_order.index(False))
    assert sorted(odd) == [0, 0, 1, 1, 2, 2]  # every place is odd equally often
    with pytest.raises(VidsslError, match="multiple of 3 and at least 6; got 3"):
        model([torch.randn(2, 3, 3, 8, 8)])


def test_future_prediction_sees_the_past_and_is_scored_on_the_change_of_the_future(monkeypatch):
    from vidssl.methods import future_prediction

    model = future_prediction.FuturePrediction(create_backbone("r3d10", width=0.0625), head_hidden=8)
    seen, scored = [], {}
    model.backbone.stem.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    real = future_prediction.future_prediction_loss
    monkeypatch.setattr(future_prediction, "future_prediction_loss",
                        lambda pred, future, last: (scored.update(pred=pred, future=future, last=last), real(pred, future, last))[1])
    x = torch.randn(2, 3, 6, 8, 12)
    with torch.no_grad():
        model([x])
    assert torch.equal(seen[0], x[:, :, :4])  # the encoder never sees the future
    assert torch.equal(scored["future"], x[:, :, 4:]) and torch.equal(scored["last"], x[:, :, 3:4])
    assert scored["pred"].shape == (2, 3, 2, 8, 12)
    with pytest.raises(VidsslError, match="at least 3; got 2"):
        model([torch.randn(2, 3, 2, 8, 8)])


def test_colorization_sees_grey_frames_and_scores_the_last_frame_against_the_others(monkeypatch):
    from vidssl.methods import colorization as col
    from vidssl.transforms.spatial import normalize

    model = col.Colorization(create_backbone("r3d10", width=0.0625), num_colours=4)
    seen, scored = [], {}
    model.backbone.stem.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    real = col.colour_copy_loss
    monkeypatch.setattr(col, "colour_copy_loss", lambda *a, **kw: (scored.update(args=a), real(*a, **kw))[1])
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, 4, 8, 8, generator=g)
    x = normalize(rgb)  # N x 3 x T x H x W, normalised as the pipeline does
    with torch.no_grad():
        model([x])
    grey = col.denormalise(seen[0])
    assert torch.allclose(grey[:, 0], grey[:, 1], atol=1e-6) and torch.allclose(grey[:, 1], grey[:, 2], atol=1e-6)
    want = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    torch.testing.assert_close(grey[:, 0], want, rtol=0, atol=1e-5)  # no colour reaches the network
    target, refs, ref_cols, target_cols = scored["args"]
    assert target.shape[1] * 3 == refs.shape[1]  # 3 reference frames, the 4th is the target
    assert ref_cols.shape[-1] == target_cols.shape[-1] == 4
    torch.testing.assert_close(target_cols.sum(-1), torch.ones(target_cols.shape[:2]))  # distributions per cell
    assert bool(model.fitted) and "palette" in model.state_dict()
    palette = model.palette.clone()
    with torch.no_grad():
        model([torch.randn_like(x)])
    assert torch.equal(model.palette, palette)  # fitted once, on the first batch
    with pytest.raises(VidsslError, match="at least 2; got 1"):
        model([x[:, :, :1]])


def test_dpc_encodes_every_block_alone_and_predicts_the_future_from_the_past_only(monkeypatch):
    from vidssl.methods import dpc

    model = dpc.DensePredictiveCoding(create_backbone("r3d10", width=0.0625)).eval()
    seen, scored = [], []
    model.backbone.stem.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    real = dpc.dense_info_nce
    monkeypatch.setattr(dpc, "dense_info_nce", lambda p, z, **kw: (scored.append((p, z)), real(p, z, **kw))[1])
    x = torch.randn(2, 3, 8, 16, 16)
    with torch.no_grad():
        model([x])
        changed = x.clone()
        changed[:, :, 6:] = torch.randn(2, 3, 2, 16, 16)  # another last block
        model([changed])
    blocks = x.reshape(2, 3, 4, 2, 16, 16).transpose(1, 2).flatten(0, 1)
    assert torch.equal(seen[0], blocks)  # 8 blocks of 2 frames, each encoded on its own
    (p0, z0), (p1, z1) = scored
    assert p0.shape == z0.shape == (2, 1, model.backbone.feature_dim, 1, 1)
    assert torch.equal(p0, p1) and not torch.equal(z0, z1)  # the prediction never sees the block it predicts
    with torch.no_grad():
        own = model.backbone.feature_map(blocks).mean(2).view(2, 4, -1, 1, 1)[:, 3:]
    torch.testing.assert_close(z0, own)  # scored against the last block's own map
    with pytest.raises(VidsslError, match="multiple of 3 and at least 3; got 5"):
        model([torch.randn(2, 3, 5, 16, 16)])
    with torch.no_grad():  # 6 frames: 3 blocks of 2, the last predicted from the first two
        model([torch.randn(2, 3, 6, 16, 16)])
    assert seen[-1].shape == (6, 3, 2, 16, 16)
    fixed = dpc.DensePredictiveCoding(create_backbone("r3d10", width=0.0625), num_blocks=4)
    with pytest.raises(VidsslError, match="multiple of 4 and at least 4; got 6"):
        fixed([torch.randn(2, 3, 6, 16, 16)])


def test_audio_visual_keeps_its_own_audio_for_positives_and_takes_another_clips_for_negatives():
    from vidssl.methods.audio_visual import AudioVisual, mismatched_audio

    audio = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 3)
    out = mismatched_audio(audio, torch.tensor([1, 0, 1, 0]), 1)
    assert out[:, 0, 0, 0].tolist() == [0.0, 2.0, 2.0, 0.0]
    model = AudioVisual(create_backbone("r3d10", width=0.0625), head_hidden=8, audio_width=0.0625)
    heard = []
    model.audio_net.register_forward_pre_hook(lambda mod, args: heard.append(args[0].clone()))
    own = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 1, 40, 100)
    with torch.no_grad():
        model([torch.randn(6, 3, 4, 16, 16)], audio=own)
    got = heard[0][:, 0, 0, 0]
    kept = got == torch.arange(6.0)
    assert kept.sum() == 3  # half the batch hears its own audio, half another clip's
    with pytest.raises(ValueError, match="one audio per clip"):
        model([torch.randn(6, 3, 4, 16, 16)], audio=own[:5])


def test_order_verification_takes_single_frames_unless_the_input_is_residual():
    from vidssl.methods.order_verification import OrderVerification

    assert OrderVerification(create_backbone("r3d10", width=0.0625)).sub_frames == 1  # the paper's frames
    assert OrderVerification(create_backbone("r3d10", width=0.0625, input="residual")).sub_frames == 2


@pytest.mark.parametrize("flags,message", [
    (["--method", "clip_order", "--clip-frames", "8"], "multiple of 3; got 8 (try 6)"),
    (["--method", "clip_order", "--input", "residual", "--clip-frames", "3"], "at least 6; got 3"),
    (["--method", "masked_video", "--crop-size", "18"], "--crop-size must be a multiple of 4; got H x W = 18 x 18"),
    (["--method", "order_verification", "--input", "residual", "--clip-frames", "8"], "at least 10; got 8"),
    (["--method", "order_verification", "--clip-frames", "4"], "at least 5; got 4"),
    (["--method", "odd_one_out", "--clip-frames", "4"], "multiple of 3 and at least 6; got 4"),
    (["--method", "dpc", "--clip-frames", "5"], "multiple of 3 and at least 3; got 5"),
    (["--method", "dpc", "--input", "residual", "--clip-frames", "4"], "multiple of 4 and at least 8; got 4"),
    (["--method", "future_prediction", "--input", "residual", "--clip-frames", "3"], "at least 4; got 3"),
    (["--method", "colorization", "--clip-frames", "1"], "at least 2; got 1"),
])
def test_clips_a_method_cannot_cut_are_refused_with_the_flags_before_anything_is_written(flags, message, tmp_path,
                                                                                          capsys):
    from vidssl.cli import main

    with pytest.raises(SystemExit) as e:
        main(["pretrain", *flags, "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()  # refused with the flags: not even the run folder


def test_the_clip_check_with_the_flags_is_the_one_forward_makes():
    """A clip the flags accept is one the method can cut, and one they refuse, it cannot (default settings)."""
    for name in ("clip_order", "order_verification", "odd_one_out", "dpc", "future_prediction", "colorization"):
        for frames in range(1, 13):
            for input in ("rgb", "residual"):
                refused = METHODS[name].clip_error(frames, 16, input) is not None
                model = METHODS[name](create_backbone("r3d10", width=0.0625, input=input))
                try:
                    with torch.no_grad():
                        model([torch.randn(2, 3, frames, 16, 16)])
                    cut = True
                except VidsslError:
                    cut = False
                assert refused != cut, (name, frames, input)
