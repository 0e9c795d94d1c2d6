"""FaceCamPipeline: source video + camera-condition video -> re-angled video.

The algorithm, as the authors' release runs it (``docs/REFERENCE.md``):

1. embed the fixed prompt "A portrait of a person" and the empty negative prompt with
   UMT5 (512 tokens, zeros past the prompt) - cached on disk after the first run, so
   later runs never build the 11 GB text encoder;
2. VAE-encode the source and the condition video (pixels in [-1, 1], posterior mean,
   per-channel ``(z - mean) / std``);
3. start from Gaussian noise ``(B, 16, F, h, w)`` and take ``num_inference_steps`` Euler
   steps of the flow-matching ODE on ``sigma' = 5 s / (1 + 4 s)``, ``s = linspace(1, 0, N+1)[:-1]``,
   ``t = 1000 sigma'``; the high-noise expert (``transformer``) predicts while
   ``t >= 0.9 * 1000``, the low-noise expert (``transformer_2``) after; each prediction is
   classifier-free guided ``v = v_neg + g (v_pos - v_neg)`` with ``g = 5``;
4. un-normalise and VAE-decode.

The experts are stock ``WanTransformer3DModel``s called with their own ``forward``
(:func:`facecam.model.transformer.facecam_velocity` assembles FaceCam's inputs), each call inside
``model.cache_context("cond" / "uncond")``, so diffusers' cache hooks, LoRA loading, attention
backends, offloading and regional compile apply as diffusers documents them.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.loaders import WanLoraLoaderMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from .context_windows import blend_windows, latent_count, plan_windows, window_weights
from .errors import FacecamError, WeightsError
from .model.sampling import DEFAULT_BOUNDARY_RATIO, DEFAULT_SHIFT, make_scheduler, release_sigmas, set_release_timesteps
from .model.text import PROMPT_CACHE_DIRNAME, TEXT_LENGTH, PromptCache, encode_text
from .model.transformer import expert_dtype, facecam_velocity
from .model.vae import decode_chunked, decode_pixels, encode_chunked, encode_pixels, streams
from .video.frames import DiskFrames

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "A portrait of a person"
DEFAULT_NEGATIVE_PROMPT = ""
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 5.0
OUTPUT_TYPES = ("np", "pil", "pt", "uint8", "latent")

__all__ = ["FaceCamPipeline", "FaceCamPipelineOutput", "PromptCache", "make_scheduler", "release_sigmas",
           "DEFAULT_PROMPT", "DEFAULT_NEGATIVE_PROMPT", "DEFAULT_SHIFT", "DEFAULT_BOUNDARY_RATIO", "TEXT_LENGTH",
           "PROMPT_CACHE_DIRNAME", "OUTPUT_TYPES"]

VideoInput = Union[np.ndarray, DiskFrames, torch.Tensor]


@dataclass
class FaceCamPipelineOutput(BaseOutput):
    """``frames``, by ``output_type``: ``"np"`` float32 ``(B, T, H, W, 3)`` in [0, 1] and ``"pil"`` a list
    (per video) of lists of PIL images, both as diffusers' ``VideoProcessor`` gives them; ``"pt"`` float
    ``(B, T, 3, H, W)`` in [0, 1]; ``"uint8"`` ``(B, T, H, W, 3)`` uint8 (truncated, as the release
    converts frames), or for videos long enough to spill to disk a list of ``B``
    :class:`~facecam.video.frames.DiskFrames` (``frames[0]`` is the first video either way); ``"latent"`` the final normalised latents ``(B, 16, F, h, w)``.
    ``experts``: which expert ran at each step (``"high"`` / ``"low"``)."""

    frames: Any
    experts: list


class FaceCamPipeline(DiffusionPipeline, WanLoraLoaderMixin):
    r"""Re-angle a portrait video with the two FaceCam experts.

    Args:
        transformer: high-noise :class:`~facecam.model.FaceCamTransformer` (used while ``t >= boundary``).
        transformer_2: low-noise expert (used below the boundary).
        vae: ``AutoencoderKLWan`` (Wan2.1 VAE; ``latents_mean`` / ``latents_std`` in its config).
        scheduler: ``FlowMatchEulerDiscreteScheduler`` with ``shift=5``.
        text_encoder, tokenizer: UMT5 encoder and tokenizer. Optional: when absent, prompt
            embeddings come from the on-disk cache (``prompt_cache_dir``) or from
            ``text_encoder_loader`` (called once, then the encoder is released).
        boundary_ratio: expert switch as a fraction of 1000 train timesteps (0.9).

    LoRA: ``pipe.load_lora_weights(path)`` loads a LoRA (e.g. what ``facecam train --lora`` exports) into
    ``transformer``; ``load_lora_weights(path, load_into_transformer_2=True)`` into the low-noise expert.
    """

    model_cpu_offload_seq = "text_encoder->transformer->transformer_2->vae"
    _optional_components = ["text_encoder", "tokenizer"]
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(self, transformer, transformer_2, vae, scheduler, text_encoder=None, tokenizer=None,
                 boundary_ratio: float = DEFAULT_BOUNDARY_RATIO):
        super().__init__()
        self.register_modules(transformer=transformer, transformer_2=transformer_2, vae=vae,
                              scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)
        self.register_to_config(boundary_ratio=boundary_ratio)
        self.prompt_cache = PromptCache(None)
        self.text_encoder_loader: Optional[Callable[[], tuple[Any, Any]]] = None

    # ------------------------------------------------------------------ text
    def set_prompt_cache_dir(self, folder: Optional[Union[str, Path]]) -> None:
        """Keep prompt embeddings in ``folder`` (normally next to the weights)."""
        self.prompt_cache.folder = Path(folder) if folder is not None else None

    @torch.no_grad()
    def encode_prompt(self, prompt: str, device: Optional[torch.device] = None) -> torch.Tensor:
        """``(1, 512, text_dim)`` UMT5 states of ``prompt``, zero past its tokens (cached)."""
        cached = self.prompt_cache.get(prompt)
        if cached is None:
            if self.text_encoder is None and self.text_encoder_loader is not None:
                tokenizer, encoder = self.text_encoder_loader()
                self.register_modules(tokenizer=tokenizer, text_encoder=encoder)
            if self.text_encoder is None or self.tokenizer is None:
                raise WeightsError(f"no cached embedding for prompt {prompt!r} and no text encoder loaded")
            enc_device = device if device is not None else self._execution_device
            cached = encode_text(self.tokenizer, self.text_encoder, prompt, enc_device)
            self.prompt_cache.put(prompt, cached)
        return cached if device is None else cached.to(device)

    def release_text_encoder(self) -> None:
        """Drop the text encoder (11 GB for UMT5-XXL) once every needed prompt is cached."""
        self.register_modules(text_encoder=None, tokenizer=None)

    # ------------------------------------------------------------------ VAE
    def _video_tensor(self, video: VideoInput, name: str) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` / ``(B, T, H, W, 3)`` or float ``(B, 3, T, H, W)`` in [-1, 1] -> float
        ``(B, 3, T, H, W)`` tensor (checked as :meth:`_video_shape` checks it)."""
        return self._pixel_chunk(video, 0, self._video_shape(video, name)[1])

    def _pixel_chunk(self, video: VideoInput, start: int, end: int) -> torch.Tensor:
        """Frames ``start:end`` of a raw video argument as a float ``(B, 3, end - start, H, W)`` tensor in
        [-1, 1], converting only those frames (a long clip, or its frame buffer, is never converted whole)."""
        if isinstance(video, torch.Tensor):
            return video[:, :, start:end].float()
        frames = np.asarray(video[start:end])[None] if video.ndim == 4 else np.asarray(video[:, start:end])
        return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0

    def _encode_input(self, video: VideoInput, num_frames: int) -> torch.Tensor:
        """Normalised latents of a raw video argument: chunk by chunk where the VAE allows it
        (:func:`~facecam.model.vae.streams`), else as one tensor."""
        if streams(self.vae):
            return encode_chunked(self.vae, lambda a, b: self._pixel_chunk(video, a, b), num_frames,
                                  self._execution_device)
        return self.encode_video(self._pixel_chunk(video, 0, num_frames))

    def _decode_uint8(self, latents: torch.Tensor) -> Union[np.ndarray, list]:
        """uint8 frames of normalised latents, truncated as the release converts them: ``(B, T, H, W, 3)``, or
        a list of ``B`` frame buffers (:mod:`facecam.video.frames`) when the videos are long enough to spill
        to disk. Decoded a latent frame at a time where the VAE allows it, so the device holds a few frames."""
        from .video.frames import frame_buffer

        def to_uint8(pixels: torch.Tensor) -> np.ndarray:  # (B, 3, n, H, W) -> (B, n, H, W, 3)
            return ((pixels + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1).cpu().numpy()

        if not streams(self.vae):
            return to_uint8(self.decode_latents(latents))
        b, _, f, h, w = latents.shape
        videos = [frame_buffer((4 * (f - 1) + 1, 8 * h, 8 * w, 3)) for _ in range(b)]

        def take(start: int, pixels: torch.Tensor) -> None:
            chunk = to_uint8(pixels)
            for video, frames in zip(videos, chunk):
                if isinstance(video, np.ndarray):
                    video[start:start + len(frames)] = frames
                else:
                    for k, frame in enumerate(frames):
                        video[start + k] = frame

        decode_chunked(self.vae, latents, take)
        return np.stack(videos) if all(isinstance(v, np.ndarray) for v in videos) else videos

    @torch.no_grad()
    def encode_video(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` in [-1, 1] -> normalised latents ``(B, 16, (T-1)/4+1, H/8, W/8)`` (float32)."""
        return encode_pixels(self.vae, pixels, self._execution_device)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> ``(B, 3, T, H, W)`` pixels in [-1, 1] (float32)."""
        return decode_pixels(self.vae, latents)

    def enable_vae_tiling(self) -> None:  # noqa: D401 - diffusers name
        """Decode/encode the VAE in spatial tiles (needed to stay under 48 GB at 704x480x81)."""
        self.vae.enable_tiling()

    def enable_context_parallel(self, ulysses_degree: int = 1, ring_degree: int = 1) -> None:
        """Split each expert's 2F x h x w token sequence over GPUs (diffusers context parallelism).

        Run under ``torchrun``/``accelerate launch`` with ``ulysses_degree * ring_degree``
        processes, one GPU each, ``torch.distributed`` initialised and every rank calling the
        pipeline with the same inputs and seed. Ulysses needs the 40 heads divisible by its
        degree; the release's 55,440 tokens divide by 2, 4 and 8.
        """
        try:
            from diffusers import ContextParallelConfig
        except ImportError:  # pragma: no cover - older diffusers
            raise FacecamError("this diffusers version has no context parallelism; upgrade diffusers") from None
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise FacecamError("context parallelism needs torch.distributed: launch with "
                               "`accelerate launch --num_processes N` or `torchrun --nproc-per-node N`")
        for model in (self.transformer, self.transformer_2):
            if model is not None:
                model.enable_parallelism(config=ContextParallelConfig(ulysses_degree=ulysses_degree,
                                                                      ring_degree=ring_degree))

    # ------------------------------------------------------------------ sampling
    @staticmethod
    def _video_shape(video: Any, name: str) -> tuple[int, int, int, int]:
        """``(B, T, H, W)`` of a raw video argument, checked without converting it."""
        if isinstance(video, (np.ndarray, DiskFrames)):
            if video.dtype != np.uint8:
                raise FacecamError(f"{name}: expected uint8 frames, got {video.dtype}")
            shape = video.shape if video.ndim == 5 else (1, *video.shape) if video.ndim == 4 else None
            if shape is None or shape[-1] != 3:
                raise FacecamError(f"{name}: expected (T, H, W, 3) or (B, T, H, W, 3) frames, got shape {video.shape}")
            return tuple(int(v) for v in shape[:4])
        if isinstance(video, torch.Tensor):
            if video.ndim != 5 or video.shape[1] != 3 or not video.is_floating_point():
                raise FacecamError(f"{name}: expected a float (B, 3, T, H, W) tensor in [-1, 1], got "
                                   f"{video.dtype} {tuple(video.shape)}")
            b, _, t, h, w = video.shape
            return int(b), int(t), int(h), int(w)
        raise FacecamError(f"{name}: expected uint8 frames (numpy) or a float tensor, got {type(video).__name__}")

    def check_inputs(self, source_video: Any, condition_video: Any, prompt: Optional[str] = DEFAULT_PROMPT,
                     negative_prompt: Optional[str] = DEFAULT_NEGATIVE_PROMPT, num_inference_steps: int = DEFAULT_STEPS,
                     guidance_scale: float = DEFAULT_GUIDANCE, guidance_scale_2: Optional[float] = None,
                     generator: Any = None, latents: Optional[torch.Tensor] = None,
                     prompt_embeds: Optional[torch.Tensor] = None, negative_prompt_embeds: Optional[torch.Tensor] = None,
                     output_type: str = "np", callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
                     context_frames: Optional[int] = None, context_overlap: int = 16) -> None:
        """Validate every raw argument of :meth:`__call__`; raises :class:`FacecamError` before any work."""
        b, t, h, w = self._video_shape(source_video, "source_video")
        if self._video_shape(condition_video, "condition_video") != (b, t, h, w):
            raise FacecamError(f"source (B, T, H, W) = {(b, t, h, w)} and condition "
                               f"{self._video_shape(condition_video, 'condition_video')} differ in shape")
        if (t - 1) % 4:
            raise FacecamError(f"frame count must be 4k+1, got {t}")
        step = 8 * self.transformer.config.patch_size[1]
        if h % step or w % step:
            raise FacecamError(f"height and width must be multiples of {step}, got {h}x{w}")
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, (int, np.integer)) \
                or num_inference_steps < 1:
            raise FacecamError(f"num_inference_steps must be an integer >= 1, got {num_inference_steps!r}")
        for name, g in (("guidance_scale", guidance_scale), ("guidance_scale_2", guidance_scale_2)):
            if g is not None and (not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0):
                raise FacecamError(f"{name} must be a finite number >= 0, got {g!r}")
        if output_type not in OUTPUT_TYPES:
            raise FacecamError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        unknown = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
        if unknown:
            raise FacecamError(f"callback_on_step_end_tensor_inputs {unknown} are not among "
                               f"{self._callback_tensor_inputs}")
        if isinstance(generator, list) and len(generator) != b:
            raise FacecamError(f"{len(generator)} generators for a batch of {b} videos; pass one per video")
        for name, text, embeds in (("prompt", prompt, prompt_embeds),
                                   ("negative_prompt", negative_prompt, negative_prompt_embeds)):
            if embeds is not None:
                if embeds.ndim != 3 or embeds.shape[0] not in (1, b) \
                        or embeds.shape[2] != self.transformer.config.text_dim:
                    raise FacecamError(f"{name}_embeds must be (1 or {b}, L, {self.transformer.config.text_dim}), "
                                       f"got {tuple(embeds.shape)}")
            elif text is not None and not isinstance(text, str):
                raise FacecamError(f"{name} must be a string, got {type(text).__name__}")
        if prompt_embeds is None and prompt is None:
            raise FacecamError("give prompt or prompt_embeds")
        if prompt_embeds is not None and negative_prompt_embeds is not None \
                and prompt_embeds.shape[1:] != negative_prompt_embeds.shape[1:]:
            raise FacecamError(f"prompt_embeds {tuple(prompt_embeds.shape)} and negative_prompt_embeds "
                               f"{tuple(negative_prompt_embeds.shape)} differ in length or width")
        shape = (b, self.transformer.config.out_channels, latent_count(t), h // 8, w // 8)
        if latents is not None and tuple(latents.shape) != shape:
            raise FacecamError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        if context_frames is not None:
            from .run import check_windows

            check_windows(context_frames, context_overlap, ("context_frames", "context_overlap"))

    def expert_for(self, timestep: float) -> str:
        """``"high"`` while ``timestep >= boundary_ratio * 1000``, else ``"low"``."""
        boundary = self.config.boundary_ratio * self.scheduler.config.num_train_timesteps
        return "high" if (timestep >= boundary or self.transformer_2 is None) else "low"

    def prepare_latents(self, shape: tuple[int, ...], generator: Any = None, latents: Optional[torch.Tensor] = None,
                        device: Optional[torch.device] = None) -> torch.Tensor:
        """The initial noise ``(B, 16, F, h, w)`` as float32 on ``device``.

        Drawn as float32 on the generator's device and rounded through the high-noise expert's dtype,
        as the release stores its noise in the model dtype; given ``latents`` are used as they are.
        """
        device = device if device is not None else self._execution_device
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
            latents = latents.to(expert_dtype(self.transformer))
        return latents.to(device=device, dtype=torch.float32)

    # diffusers' conventional run-state properties
    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def current_timestep(self):
        return self._current_timestep

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    @property
    def attention_kwargs(self) -> Optional[dict]:
        return self._attention_kwargs

    def _velocity(self, model, latents, source_latents, condition_latents, timestep, prompt_embeds,
                  negative_prompt_embeds, guidance: float, batch_guidance: bool, where: dict) -> torch.Tensor:
        """Classifier-free guided velocity ``u + g (v - u)`` of one expert (float32)."""
        dtype = expert_dtype(model)
        x, src, cond = latents.to(dtype), source_latents.to(dtype), condition_latents.to(dtype)
        kwargs = self._attention_kwargs
        if guidance <= 1.0 or negative_prompt_embeds is None:
            with model.cache_context("cond", **where):
                return facecam_velocity(model, x, src, cond, timestep, prompt_embeds.to(dtype), kwargs).float()
        if batch_guidance:
            # One batch-2B forward for both passes: fewer launches and better occupancy where memory allows.
            text = torch.cat([prompt_embeds, negative_prompt_embeds]).to(dtype)
            with model.cache_context("cond_uncond", **where):
                both = facecam_velocity(model, torch.cat([x, x]), torch.cat([src, src]), torch.cat([cond, cond]),
                                        torch.cat([timestep, timestep]), text, kwargs).float()
            v, u = both.chunk(2)
        else:
            # Each pass in its own cache context, so diffusers' cache hooks (First-Block, MagCache,
            # TaylorSeer) keep the conditional and unconditional states apart.
            with model.cache_context("cond", **where):
                v = facecam_velocity(model, x, src, cond, timestep, prompt_embeds.to(dtype), kwargs).float()
            with model.cache_context("uncond", **where):
                u = facecam_velocity(model, x, src, cond, timestep, negative_prompt_embeds.to(dtype), kwargs).float()
        return u + guidance * (v - u)

    @torch.no_grad()
    def __call__(
        self,
        source_video: VideoInput = None,
        condition_video: VideoInput = None,
        prompt: Optional[str] = DEFAULT_PROMPT,
        negative_prompt: Optional[str] = DEFAULT_NEGATIVE_PROMPT,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        guidance_scale_2: Optional[float] = None,
        generator: Optional[Union[torch.Generator, list[torch.Generator]]] = None,
        latents: Optional[torch.Tensor] = None,
        prompt_embeds: Optional[torch.Tensor] = None,
        negative_prompt_embeds: Optional[torch.Tensor] = None,
        output_type: str = "np",
        return_dict: bool = True,
        attention_kwargs: Optional[dict[str, Any]] = None,
        callback_on_step_end: Optional[Callable[..., dict]] = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        context_frames: Optional[int] = None,
        context_overlap: int = 16,
        batch_guidance: bool = False,
        latents_dtype: Optional[torch.dtype] = None,
    ) -> Union[FaceCamPipelineOutput, tuple]:
        r"""Generate the re-angled video.

        Args:
            source_video: the cropped source, uint8 ``(T, H, W, 3)`` (or ``(B, T, H, W, 3)``), or float
                ``(B, 3, T, H, W)`` in [-1, 1]. ``T = 4k + 1``; ``H, W`` multiples of 16 (704x480 for the release).
            condition_video: the face-mesh condition video, same shape.
            prompt / negative_prompt: fixed by the release ("A portrait of a person" / "").
            num_inference_steps: Euler steps (50).
            guidance_scale: classifier-free guidance weight of the high-noise expert (5.0); ``<= 1`` skips
                the negative pass.
            guidance_scale_2: the low-noise expert's guidance weight (default: ``guidance_scale``).
            generator: seeds the initial noise (drawn on the generator's device, float32); a list gives one
                generator per video of the batch.
            latents: optional initial noise ``(B, 16, F, h, w)``.
            prompt_embeds / negative_prompt_embeds: ``(1 or B, L, text_dim)`` text states used instead of
                encoding ``prompt`` / ``negative_prompt``.
            output_type: ``"np"``, ``"pil"``, ``"pt"`` (as diffusers' ``VideoProcessor``), ``"uint8"`` or
                ``"latent"`` (see :class:`FaceCamPipelineOutput`).
            return_dict: return :class:`FaceCamPipelineOutput` rather than a tuple.
            attention_kwargs: passed to every attention processor of the experts.
            callback_on_step_end: ``fn(pipe, step_index, timestep, tensors) -> dict`` after each step;
                returned ``"latents"``, ``"prompt_embeds"`` or ``"negative_prompt_embeds"`` replace the
                current ones; setting ``pipe._interrupt = True`` skips the remaining steps.
            callback_on_step_end_tensor_inputs: which of those tensors the callback receives.
            context_frames: for clips longer than the model's 81 frames, denoise in temporal windows
                of this many video frames (4k+1; the release's 81 keeps positions as in training), each
                from its own slices of source and condition, blended where they overlap
                (:mod:`facecam.context_windows`). None, or a window as long as the clip: one pass.
            context_overlap: video frames (a multiple of 4) shared by consecutive windows.
            batch_guidance: run the conditional and unconditional passes as one batch-2B forward
                (equal to two passes to rounding; more memory, fewer launches).
            latents_dtype: store the latents in this dtype between steps (``torch.bfloat16`` as the
                release does); default float32.
        """
        self.check_inputs(source_video, condition_video, prompt, negative_prompt, num_inference_steps,
                          guidance_scale, guidance_scale_2, generator, latents, prompt_embeds,
                          negative_prompt_embeds, output_type, callback_on_step_end_tensor_inputs,
                          context_frames, context_overlap)
        guidance_scale_2 = guidance_scale if guidance_scale_2 is None else guidance_scale_2
        self._guidance_scale, self._guidance_scale_2 = float(guidance_scale), float(guidance_scale_2)
        self._attention_kwargs = attention_kwargs
        self._interrupt = False
        self._current_timestep = None
        device = self._execution_device
        batch, num_frames = self._video_shape(source_video, "source_video")[:2]
        num_latents = latent_count(num_frames)
        if context_frames is None:
            spans = [(0, num_latents)]
        else:
            spans = plan_windows(num_latents, latent_count(context_frames), context_overlap // 4)
        blend = window_weights(spans, num_latents)
        do_cfg = max(self._guidance_scale, self._guidance_scale_2) > 1.0

        # 1. text (cached after the first run)
        if prompt_embeds is None:
            prompt_embeds = self.encode_prompt(prompt, device)
        if do_cfg and negative_prompt_embeds is None:
            negative_prompt_embeds = self.encode_prompt(negative_prompt or "", device)
        if self.text_encoder_loader is not None and self.text_encoder is not None:
            self.release_text_encoder()  # loaded lazily just for this; free its memory now
        prompt_embeds = prompt_embeds.to(device).expand(batch, -1, -1)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.to(device).expand(batch, -1, -1)

        # 2. conditions
        source_latents = self._encode_input(source_video, num_frames)
        condition_latents = self._encode_input(condition_video, num_frames)

        # 3. noise
        latents = self.prepare_latents(tuple(source_latents.shape), generator, latents, device)

        # 4. denoise (in temporal windows when the clip is longer than one)
        set_release_timesteps(self.scheduler, num_inference_steps, device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        experts: list[str] = []
        with self.progress_bar(total=num_inference_steps) as bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                self._current_timestep = t
                which = self.expert_for(float(t))
                experts.append(which)
                model = self.transformer if which == "high" else self.transformer_2
                guidance = self._guidance_scale if which == "high" else self._guidance_scale_2
                # The release feeds the timestep in the model's dtype (bf16-rounded on GPU).
                timestep = t.expand(batch).to(expert_dtype(model))
                where = dict(step_index=i, num_inference_steps=num_inference_steps, timestep=float(t))

                def guided(start: int, end: int) -> torch.Tensor:
                    part = slice(start, end)
                    return self._velocity(model, latents[:, :, part], source_latents[:, :, part],
                                          condition_latents[:, :, part], timestep, prompt_embeds,
                                          negative_prompt_embeds, guidance, batch_guidance, where)

                if len(spans) == 1:
                    velocity = guided(0, num_latents)
                else:
                    velocity = blend_windows(guided, spans, blend, latents)
                latents = self.scheduler.step(velocity, t, latents, return_dict=False)[0]
                if latents_dtype is not None:
                    latents = latents.to(latents_dtype).float()
                if callback_on_step_end is not None:
                    available = {"latents": latents, "prompt_embeds": prompt_embeds,
                                 "negative_prompt_embeds": negative_prompt_embeds}
                    tensors = {name: available[name] for name in callback_on_step_end_tensor_inputs}
                    result = callback_on_step_end(self, i, t, tensors) or {}
                    latents = result.get("latents", latents)
                    prompt_embeds = result.get("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = result.get("negative_prompt_embeds", negative_prompt_embeds)
                bar.update()
        self._current_timestep = None

        # 5. decode
        if output_type == "latent":
            frames = latents
        elif output_type == "uint8":
            frames = self._decode_uint8(latents)
        else:
            from diffusers.video_processor import VideoProcessor

            frames = VideoProcessor(vae_scale_factor=8).postprocess_video(self.decode_latents(latents),
                                                                          output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames, experts)
        return FaceCamPipelineOutput(frames=frames, experts=experts)

    # ------------------------------------------------------------------ save / load
    def load_lora_weights(self, pretrained_model_name_or_path_or_dict, adapter_name: Optional[str] = None,
                          hotswap: bool = False, **kwargs) -> None:
        """diffusers' ``load_lora_weights`` (``load_into_transformer_2=True`` for the low-noise expert), plus
        the fully trained patch embedding a ``facecam train --lora`` export keeps beside the adapters.

        Given the ``export/lora`` folder of a run, the target expert is taken from its ``lora.json``
        unless ``load_into_transformer_2`` is passed. The adapters act on the weights the run started
        from (the Wan base, or FaceCam's fine-tune with ``init_from_finetune``): load them into a
        pipeline holding those.
        """
        folder = Path(pretrained_model_name_or_path_or_dict) \
            if isinstance(pretrained_model_name_or_path_or_dict, (str, Path)) else None
        if folder is not None and folder.is_dir() and (folder / "lora.json").is_file():
            note = json.loads((folder / "lora.json").read_text())
            kwargs.setdefault("load_into_transformer_2", bool(note.get("load_into_transformer_2")))
            kwargs.setdefault("weight_name", "pytorch_lora_weights.safetensors")
        into_low = bool(kwargs.get("load_into_transformer_2"))
        super().load_lora_weights(pretrained_model_name_or_path_or_dict, adapter_name=adapter_name,
                                  hotswap=hotswap, **kwargs)
        patch = folder / "patch_embedding.safetensors" if folder is not None and folder.is_dir() else None
        if patch is not None and patch.is_file():
            from safetensors.torch import load_file

            expert = self.transformer_2 if into_low else self.transformer
            state = load_file(str(patch))
            with torch.no_grad():
                for name, param in expert.patch_embedding.named_parameters():
                    param.copy_(state[f"patch_embedding.{name}"].to(param.dtype))

    def save_pretrained(self, save_directory: Union[str, Path], **kwargs) -> None:
        """Our layout: diffusers' component folders + ``model_index.json`` + ``prompt_embeds/``.

        The text encoder is not written (it is optional); the cached embeddings of the fixed
        prompts are, so the saved folder runs without it.
        """
        save_directory = Path(save_directory)
        for text in (DEFAULT_PROMPT, DEFAULT_NEGATIVE_PROMPT):
            if self.prompt_cache.get(text) is None and (self.text_encoder is not None or self.text_encoder_loader):
                self.encode_prompt(text)
        encoder, tokenizer = self.text_encoder, self.tokenizer
        self.register_modules(text_encoder=None, tokenizer=None)
        try:
            super().save_pretrained(str(save_directory), **kwargs)
        finally:
            self.register_modules(text_encoder=encoder, tokenizer=tokenizer)
        target = PromptCache(save_directory / PROMPT_CACHE_DIRNAME)
        for text, embeds in list(self.prompt_cache.memory.items()):
            target.put(text, embeds)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, Path], **kwargs) -> "FaceCamPipeline":
        """Load a folder written by :meth:`save_pretrained`, or any weights folder
        :func:`facecam.model.weights.find_weights` understands (base + fine-tunes are then
        converted and merged on the fly)."""
        from .model.weights import find_weights

        path = Path(pretrained_model_name_or_path)
        # diffusers now spells it ``dtype``; accept both.
        torch_dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None) or torch.bfloat16
        if kwargs:
            raise TypeError(f"unsupported from_pretrained arguments: {sorted(kwargs)}")
        return cls.from_weights(find_weights(path), torch_dtype=torch_dtype)

    @classmethod
    def from_weights(cls, layout, torch_dtype: torch.dtype = torch.bfloat16) -> "FaceCamPipeline":
        """Build from a :class:`~facecam.model.weights.WeightsLayout` (base + fine-tunes, text encoder lazy)."""
        from .model.weights import load_components, load_text_encoder

        parts = load_components(layout, torch_dtype)
        scheduler = make_scheduler()
        boundary = DEFAULT_BOUNDARY_RATIO
        if layout.kind == "facecam":
            scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(str(layout.base), subfolder="scheduler")
            boundary = json.loads((layout.base / "model_index.json").read_text()).get("boundary_ratio", boundary)
        pipe = cls(transformer=parts.transformer, transformer_2=parts.transformer_2, vae=parts.vae,
                   scheduler=scheduler, boundary_ratio=boundary)
        pipe.set_prompt_cache_dir(layout.cache_dir / PROMPT_CACHE_DIRNAME)
        pipe.text_encoder_loader = lambda: load_text_encoder(layout, torch_dtype)
        pipe.load_reports = parts.reports
        return pipe
