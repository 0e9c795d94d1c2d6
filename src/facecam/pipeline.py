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
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from .context_windows import blend_windows, latent_count, plan_windows, window_weights
from .errors import FacecamError, WeightsError

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "A portrait of a person"
DEFAULT_NEGATIVE_PROMPT = ""
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 5.0
DEFAULT_SHIFT = 5.0
DEFAULT_BOUNDARY_RATIO = 0.9
TEXT_LENGTH = 512
PROMPT_CACHE_DIRNAME = "prompt_embeds"

VideoInput = Union[np.ndarray, torch.Tensor]


@dataclass
class FaceCamPipelineOutput(BaseOutput):
    """``frames``: ``(B, T, H, W, 3)`` uint8 for ``output_type="np"``, ``(B, 3, T, H, W)`` in [-1, 1]
    for ``"pt"``, or the final normalised latents ``(B, 16, F, h, w)`` for ``"latent"``.
    ``experts``: which expert ran at each step (``"high"`` / ``"low"``)."""

    frames: Any
    experts: list


def make_scheduler(shift: float = DEFAULT_SHIFT) -> FlowMatchEulerDiscreteScheduler:
    """Flow-matching Euler scheduler with the release's static shift (no dynamic shifting)."""
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift, use_dynamic_shifting=False)


def release_sigmas(num_inference_steps: int) -> np.ndarray:
    """Unshifted sigmas ``linspace(1, 0, N + 1)`` without the final 0; the scheduler applies the shift."""
    return np.linspace(1.0, 0.0, num_inference_steps + 1)[:-1]


class PromptCache:
    """Prompt embeddings ``(1, 512, text_dim)`` on disk, one safetensors file per prompt text."""

    def __init__(self, folder: Optional[Path]):
        self.folder = Path(folder) if folder is not None else None
        self.memory: dict[str, torch.Tensor] = {}

    def _file(self, text: str) -> Optional[Path]:
        if self.folder is None:
            return None
        return self.folder / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.safetensors"

    def get(self, text: str) -> Optional[torch.Tensor]:
        if text in self.memory:
            return self.memory[text]
        f = self._file(text)
        if f is not None and f.is_file():
            from safetensors.torch import load_file

            self.memory[text] = load_file(str(f))["embeds"]
            return self.memory[text]
        return None

    def put(self, text: str, embeds: torch.Tensor) -> None:
        self.memory[text] = embeds.detach().cpu()
        f = self._file(text)
        if f is None:
            return
        from safetensors.torch import save_file

        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp = f.with_suffix(".tmp")
            save_file({"embeds": self.memory[text].contiguous()}, str(tmp), metadata={"prompt": text})
            tmp.replace(f)
        except OSError as exc:  # a read-only weights folder only costs a re-encode next time
            log.warning("could not cache the prompt embedding in %s: %s", f.parent, exc)

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.safetensors")) if self.folder and self.folder.is_dir() else []


class FaceCamPipeline(DiffusionPipeline):
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
    """

    model_cpu_offload_seq = "text_encoder->transformer->transformer_2->vae"
    _optional_components = ["text_encoder", "tokenizer"]
    _callback_tensor_inputs = ["latents"]

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
            inputs = self.tokenizer([prompt], padding="max_length", max_length=TEXT_LENGTH, truncation=True,
                                    add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
            ids, mask = inputs.input_ids.to(enc_device), inputs.attention_mask.to(enc_device)
            self.text_encoder.to(enc_device)
            states = self.text_encoder(ids, attention_mask=mask).last_hidden_state
            # As the release: positions past the prompt are exactly zero, not the encoder's padding output.
            states = states * mask[..., None].to(states.dtype)
            cached = states.float().cpu()
            self.prompt_cache.put(prompt, cached)
        return cached if device is None else cached.to(device)

    def release_text_encoder(self) -> None:
        """Drop the text encoder (11 GB for UMT5-XXL) once every needed prompt is cached."""
        self.register_modules(text_encoder=None, tokenizer=None)

    # ------------------------------------------------------------------ VAE
    def _video_tensor(self, video: VideoInput, name: str) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` / ``(B, T, H, W, 3)`` or float ``(B, 3, T, H, W)`` in [-1, 1] -> float tensor."""
        if isinstance(video, np.ndarray):
            if video.dtype != np.uint8:
                raise FacecamError(f"{name}: expected uint8 frames, got {video.dtype}")
            if video.ndim == 4:
                video = video[None]
            if video.ndim != 5 or video.shape[-1] != 3:
                raise FacecamError(f"{name}: expected (T, H, W, 3) frames, got shape {video.shape}")
            t = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 4, 1, 2, 3).float()
            return t / 127.5 - 1.0
        if isinstance(video, torch.Tensor) and video.ndim == 5:
            return video.float()
        raise FacecamError(f"{name}: unsupported video input {type(video).__name__}")

    def _latent_stats(self, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.vae.config.latents_mean, device=device, dtype=dtype).view(1, -1, 1, 1, 1)
        std = torch.tensor(self.vae.config.latents_std, device=device, dtype=dtype).view(1, -1, 1, 1, 1)
        return mean, std

    @torch.no_grad()
    def encode_video(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` in [-1, 1] -> normalised latents ``(B, 16, (T-1)/4+1, H/8, W/8)`` (float32)."""
        device = self._execution_device
        z = self.vae.encode(pixels.to(device=device, dtype=self.vae.dtype)).latent_dist.mean.float()
        mean, std = self._latent_stats(z.device, z.dtype)
        return (z - mean) / std

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> ``(B, 3, T, H, W)`` pixels in [-1, 1] (float32)."""
        mean, std = self._latent_stats(latents.device, torch.float32)
        z = latents.float() * std + mean
        return self.vae.decode(z.to(self.vae.dtype), return_dict=False)[0].float().clamp(-1, 1)

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
    def check_inputs(self, source: torch.Tensor, condition: torch.Tensor, num_inference_steps: int) -> None:
        if source.shape != condition.shape:
            raise FacecamError(f"source {tuple(source.shape)} and condition {tuple(condition.shape)} differ in shape")
        _, _, t, h, w = source.shape
        if (t - 1) % 4:
            raise FacecamError(f"frame count must be 4k+1, got {t}")
        step = 8 * self.transformer.config.patch_size[1]
        if h % step or w % step:
            raise FacecamError(f"height and width must be multiples of {step}, got {h}x{w}")
        if num_inference_steps < 1:
            raise FacecamError(f"need at least one step, got {num_inference_steps}")

    def expert_for(self, timestep: float) -> str:
        """``"high"`` while ``timestep >= boundary_ratio * 1000``, else ``"low"``."""
        boundary = self.config.boundary_ratio * self.scheduler.config.num_train_timesteps
        return "high" if (timestep >= boundary or self.transformer_2 is None) else "low"

    @torch.no_grad()
    def __call__(
        self,
        source_video: VideoInput,
        condition_video: VideoInput,
        prompt: str = DEFAULT_PROMPT,
        negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        generator: Optional[Union[torch.Generator, list[torch.Generator]]] = None,
        latents: Optional[torch.Tensor] = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Optional[Callable[..., dict]] = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        context_frames: Optional[int] = None,
        context_overlap: int = 16,
    ) -> Union[FaceCamPipelineOutput, tuple]:
        r"""Generate the re-angled video.

        Args:
            source_video: the cropped source, uint8 ``(T, H, W, 3)`` (or ``(B, T, H, W, 3)``), or float
                ``(B, 3, T, H, W)`` in [-1, 1]. ``T = 4k + 1``; ``H, W`` multiples of 16 (704x480 for the release).
            condition_video: the face-mesh camera-condition video, same shape.
            prompt / negative_prompt: fixed by the release ("A portrait of a person" / "").
            num_inference_steps: Euler steps (50).
            guidance_scale: classifier-free guidance weight (5.0); ``<= 1`` skips the negative pass.
            generator: seeds the initial noise (drawn on the generator's device, float32).
            latents: optional initial noise ``(B, 16, F, h, w)``.
            output_type: ``"np"`` (uint8 frames), ``"pt"`` (float pixels) or ``"latent"``.
            return_dict: return :class:`FaceCamPipelineOutput` rather than a tuple.
            callback_on_step_end: ``fn(pipe, step_index, timestep, tensors) -> dict`` after each step;
                a returned ``"latents"`` replaces the current latents.
            callback_on_step_end_tensor_inputs: which tensors the callback receives.
            context_frames: for clips longer than the model's 81 frames, denoise in temporal windows
                of this many video frames (4k+1; the release's 81 keeps positions as in training), each
                from its own slices of source and condition, blended where they overlap
                (:mod:`facecam.context_windows`). None, or a window as long as the clip: one pass.
            context_overlap: video frames (a multiple of 4) shared by consecutive windows.
        """
        device = self._execution_device
        source = self._video_tensor(source_video, "source_video")
        condition = self._video_tensor(condition_video, "condition_video")
        self.check_inputs(source, condition, num_inference_steps)
        num_latents = latent_count(source.shape[2])
        if context_frames is None:
            spans = [(0, num_latents)]
        else:
            if context_overlap < 0 or context_overlap % 4:
                raise FacecamError(f"the window overlap must be a multiple of 4 video frames, got {context_overlap}")
            spans = plan_windows(num_latents, latent_count(context_frames), context_overlap // 4)
        blend = window_weights(spans, num_latents)
        do_cfg = guidance_scale > 1.0

        # 1. text (cached after the first run)
        prompt_embeds = self.encode_prompt(prompt, device)
        negative_embeds = self.encode_prompt(negative_prompt, device) if do_cfg else None
        if self.text_encoder_loader is not None and self.text_encoder is not None:
            self.release_text_encoder()  # loaded lazily just for this; free its memory now
        batch = source.shape[0]
        prompt_embeds = prompt_embeds.expand(batch, -1, -1)
        negative_embeds = negative_embeds.expand(batch, -1, -1) if do_cfg else None

        # 2. conditions
        source_latents = self.encode_video(source)
        camera_latents = self.encode_video(condition)

        # 3. noise
        shape = source_latents.shape
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
            # The release draws float32 noise and stores it in the model dtype: start from the same values.
            latents = latents.to(self.transformer.patch_embedding.weight.dtype)
        elif latents.shape != shape:
            raise FacecamError(f"latents must have shape {tuple(shape)}, got {tuple(latents.shape)}")
        latents = latents.to(device=device, dtype=torch.float32)

        # 4. denoise (in temporal windows when the clip is longer than one)
        self.scheduler.set_timesteps(sigmas=release_sigmas(num_inference_steps).tolist(), device=device)
        experts: list[str] = []
        with self.progress_bar(total=num_inference_steps) as bar:
            for i, t in enumerate(self.scheduler.timesteps):
                which = self.expert_for(float(t))
                experts.append(which)
                model = self.transformer if which == "high" else self.transformer_2
                dtype = model.patch_embedding.weight.dtype
                # The release feeds the timestep in the model's dtype (bf16-rounded on GPU).
                timestep = t.expand(batch).to(dtype)
                src, cam = source_latents.to(dtype), camera_latents.to(dtype)

                where = dict(step_index=i, num_inference_steps=num_inference_steps, timestep=float(t))

                def guided(start: int, end: int) -> torch.Tensor:
                    x = latents[:, :, start:end].to(dtype)
                    s_, c_ = src[:, :, start:end], cam[:, :, start:end]
                    # Each pass runs inside its cache context, so diffusers' cache hooks (First-Block,
                    # MagCache, TaylorSeer) keep the conditional and unconditional states apart.
                    with model.cache_context("cond", **where):
                        v = model(x, s_, c_, timestep, prompt_embeds.to(dtype)).float()
                    if do_cfg:
                        with model.cache_context("uncond", **where):
                            u = model(x, s_, c_, timestep, negative_embeds.to(dtype)).float()
                        v = u + guidance_scale * (v - u)
                    return v

                if len(spans) == 1:
                    velocity = guided(0, num_latents)
                else:
                    velocity = blend_windows(guided, spans, blend, latents)
                latents = self.scheduler.step(velocity, t, latents, return_dict=False)[0]
                if callback_on_step_end is not None:
                    available = {"latents": latents}
                    tensors = {name: available[name] for name in callback_on_step_end_tensor_inputs}
                    result = callback_on_step_end(self, i, t, tensors) or {}
                    latents = result.get("latents", latents)
                bar.update()

        # 5. decode
        if output_type == "latent":
            frames = latents
        else:
            pixels = self.decode_latents(latents)
            if output_type == "pt":
                frames = pixels
            elif output_type == "np":
                # Truncating (not rounding) to uint8, as the release's frame conversion does.
                frames = ((pixels + 1.0) * 127.5).clamp(0, 255).to(torch.uint8)
                frames = frames.permute(0, 2, 3, 4, 1).cpu().numpy()
            else:
                raise FacecamError(f"output_type must be np, pt or latent, got {output_type!r}")
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames, experts)
        return FaceCamPipelineOutput(frames=frames, experts=experts)

    # ------------------------------------------------------------------ save / load
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
