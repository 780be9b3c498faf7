package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationCancelledException;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.api.Pipeline;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.SamplingContext;
import dev.jdiffusion.api.StepEvent;
import dev.jdiffusion.api.StepListener;
import dev.jdiffusion.djl.lora.Lora;
import dev.jdiffusion.djl.lora.LoraMerge;
import dev.jdiffusion.djl.nn.GradMode;
import dev.jdiffusion.djl.text.ClipConditioner;
import dev.jdiffusion.djl.text.SdxlConditioner;
import dev.jdiffusion.djl.text.TextualInversion;
import dev.jdiffusion.samplers.DiffusersScheduler;
import dev.jdiffusion.samplers.VpDenoiser;
import dev.jdiffusion.samplers.VpModel;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Text-to-image, image-to-image and inpainting with a loaded diffusion model: a denoising
 * network (UNet), an optional conditioner (text encoder or class labels), an optional VAE and the
 * model's noise schedule.
 *
 * <p>Thread-safe: the weights are loaded once and shared; every {@link #generate} call works in
 * its own child {@link NDManager}, closed when the call ends (also when it fails or is
 * cancelled), and every sampler step in a scope of its own, so concurrent calls do not disturb
 * each other and return exactly what they would return alone. Any thread may call {@link
 * #generate}: the engine's gradient recording, which is per thread, is off for the call's
 * duration on the calling thread. Interrupting that thread stops the call at the next step with
 * {@link GenerationCancelledException} (the interrupt status stays set). {@link #close()} waits
 * for calls running on other threads and releases the weights; called from inside a call (a
 * step listener) it fails with {@link IllegalStateException} instead of waiting for itself.
 *
 * <p><b>Derived pipelines.</b> {@link #withLoras} and {@link #withEmbeddings} return pipelines
 * that share this one's weights: a LoRA pipeline runs the same networks with LoRA-patched copies
 * of only the layers its LoRAs touch ({@code W + Σ s·up·down}, computed once when it is
 * created), an embeddings pipeline only binds trigger words. This pipeline's weights are never
 * written, so requests on a pipeline and on any number of pipelines derived from it may run
 * concurrently, each seeing exactly its own weights. Lifetime: closing a derived pipeline frees
 * only what it owns (a LoRA pipeline's patched arrays) and leaves the pipeline it comes from
 * usable; closing a pipeline waits for the running calls of the pipelines derived from it,
 * frees their arrays with its own, and makes them fail with {@link IllegalStateException}.
 */
public final class DiffusionPipeline implements Pipeline {

    private static final Logger LOG = LoggerFactory.getLogger(DiffusionPipeline.class);
    private static final SecureRandom SEEDS = new SecureRandom();

    private final NDManager manager;
    private final NoiseNetwork network;
    private final Conditioner conditioner;
    private final LatentCodec codec;
    private final DiffusersScheduler scheduler;
    private final PipelineOptions options;
    private final String modelName;
    private final int defaultSize;
    private final double defaultGuidance;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile boolean closed;
    /** The loaded pipeline whose weights every derived pipeline shares; this for a loaded one. */
    private final DiffusionPipeline root;
    /** The pipeline whose arrays this one uses; null for a loaded one. */
    private final DiffusionPipeline parent;
    /** The arrays this pipeline frees on close: all weights, a LoRA's patches, or none. */
    private final NDManager owned;
    /** The LoRAs patched into this pipeline's layers; null for none. */
    private final LoraPipelines.Applied loras;

    DiffusionPipeline(NDManager manager, NoiseNetwork network, Conditioner conditioner,
            LatentCodec codec, DiffusersScheduler scheduler, PipelineOptions options,
            String modelName, int defaultSize, double defaultGuidance) {
        this.manager = manager;
        this.network = network;
        this.conditioner = conditioner;
        this.codec = codec;
        this.scheduler = scheduler;
        this.options = options;
        this.modelName = modelName;
        this.defaultSize = defaultSize;
        this.defaultGuidance = defaultGuidance;
        this.root = this;
        this.parent = null;
        this.owned = manager;
        this.loras = null;
        if (network.outChannels() != codec.channels()) {
            throw new IllegalArgumentException("the network predicts " + network.outChannels()
                    + " channels but the " + (codec == LatentCodec.PIXELS ? "pixel space" : "VAE")
                    + " has " + codec.channels());
        }
    }

    /**
     * Loads a model: a diffusers folder ({@code model_index.json}, {@code unet/}, and as the
     * model has them {@code vae/}, {@code text_encoder/} + {@code tokenizer/}, {@code
     * scheduler/}; optionally jdiffusion's {@code jdiffusion.json} with {@code name}, {@code
     * labels}, {@code default_guidance}, {@code default_sampler}, {@code clip_skip}, {@code
     * prompt_syntax} {@code "a1111"} (the default) or {@code "plain"}) or a
     * single-file Stable Diffusion 1.x {@code .safetensors} checkpoint with CLIP's tokenizer
     * files in a {@code tokenizer/} folder beside it.
     *
     * <p>Every weight file is validated and every expected tensor must be present with its
     * shape; pickle files ({@code .bin}, {@code .ckpt}) are refused.
     *
     * @param model the folder or checkpoint file
     * @param options device, precision and default sampler
     * @return the loaded pipeline; close it to release the weights
     * @throws ModelLoadException if a file is missing, corrupt, refused or does not match its
     *     configuration
     */
    public static DiffusionPipeline load(Path model, PipelineOptions options)
            throws ModelLoadException {
        return ModelFolder.load(model, options);
    }

    /**
     * A pipeline derived from {@code parent}, using its arrays and owning {@code own} (null for
     * nothing), with another network and conditioner.
     */
    DiffusionPipeline(DiffusionPipeline parent, NDManager own, NoiseNetwork network,
            Conditioner conditioner, LoraPipelines.Applied loras) {
        this.manager = own != null ? own : parent.manager;
        this.network = network;
        this.conditioner = conditioner;
        this.codec = parent.codec;
        this.scheduler = parent.scheduler;
        this.options = parent.options;
        this.modelName = parent.modelName;
        this.defaultSize = parent.defaultSize;
        this.defaultGuidance = parent.defaultGuidance;
        this.root = parent.root;
        this.parent = parent;
        this.owned = own;
        this.loras = loras;
    }

    /**
     * A pipeline with LoRAs applied, sharing every weight they do not touch with this one (see
     * the class description for thread-safety and lifetime). Each LoRA adds {@code weight ×
     * alpha / rank × up · down} to the UNet and text encoder weights it names; the patched
     * weights are computed here, once, from the loaded model's weights. SDXL models take SDXL
     * LoRAs ({@code lora_te1_}/{@code lora_te2_} or {@code text_encoder_2.} for the second
     * encoder). On a pipeline that has LoRAs, the result has its LoRAs and then the new ones;
     * textual-inversion embeddings, clip skip and prompt syntax carry over. The images' {@code parameters} text records the LoRAs
     * as AUTOMATIC1111 does: a {@code <lora:name:weight>} tag in the prompt for each LoRA the
     * prompt does not already tag, and a {@code Lora hashes} entry. Prompts given to the derived
     * pipeline may carry {@code <lora:name:weight>} tags for its own LoRAs (see {@link
     * dev.jdiffusion.djl.lora.LoraTags}): they are removed before encoding and kept in the
     * parameters, so an image's recorded prompt can be generated again as it is; a tag for
     * another LoRA or another weight fails the call with {@link IllegalArgumentException}.
     *
     * @param loras the LoRAs with their weights, applied in order (the deltas add up)
     * @return a new pipeline; close it to free its patched weights
     * @throws ModelLoadException if a file cannot be read, is not a supported LoRA (pickles and
     *     LyCORIS kinds other than LoCon are refused), or has layers that fit no weight of this
     *     model, e.g. an SD 1.x LoRA on SDXL (the message says how many and lists some)
     * @throws IllegalStateException if this pipeline is closed, or its network or conditioner
     *     cannot take LoRAs
     * @throws IllegalArgumentException if {@code loras} is empty
     */
    public DiffusionPipeline withLoras(List<Lora> loras) throws ModelLoadException {
        if (loras.isEmpty()) {
            throw new IllegalArgumentException("loras: give at least one LoRA");
        }
        List<Lora> all = new ArrayList<>(this.loras == null ? List.of()
                : this.loras.result().loras());
        all.addAll(loras);
        root.lock.readLock().lock();
        try {
            if (isClosed()) {
                throw new IllegalStateException("the pipeline is closed");
            }
            // The patches depend on the loaded weights only: the new pipeline hangs off root.
            return LoraPipelines.derive(root, root.manager, network, conditioner, all);
        } finally {
            root.lock.readLock().unlock();
        }
    }

    /**
     * The LoRAs merged into this pipeline's weights.
     *
     * @return the LoRAs with their weights and the number of layers each network had patched,
     *     or empty for a pipeline without LoRAs
     */
    public Optional<LoraMerge.Result> loras() {
        return Optional.ofNullable(loras == null ? null : loras.result());
    }

    /**
     * A pipeline that also knows textual-inversion embeddings: their trigger words in prompts
     * become the embeddings' vectors. It shares every network weight with this pipeline (no
     * copy; deriving costs only the binding of the trigger words), which stays unchanged, so
     * both serve requests at the same time. Its LoRAs, if any, carry over. Closing the derived
     * pipeline releases nothing; closing the pipeline it comes from closes it too.
     *
     * @param embeddings the embeddings, added to this pipeline's
     * @return the derived pipeline
     * @throws IllegalArgumentException if the model has no CLIP text encoder, an embedding's
     *     width does not fit it (SDXL takes only clip_l/clip_g pairs), or two embeddings share
     *     a trigger word
     * @throws IllegalStateException if this pipeline is closed
     */
    public DiffusionPipeline withEmbeddings(List<TextualInversion> embeddings) {
        if (isClosed()) {
            throw new IllegalStateException("the pipeline is closed");
        }
        Conditioner bound;
        if (conditioner instanceof ClipConditioner clip) {
            bound = clip.withEmbeddings(embeddings);
        } else if (conditioner instanceof SdxlConditioner sdxl) {
            bound = sdxl.withEmbeddings(embeddings);
        } else {
            throw new IllegalArgumentException("textual-inversion embeddings need a model with"
                    + " CLIP text encoders (SD 1.x/2.x, SDXL); " + modelName + " has "
                    + (conditioner == null ? "none" : conditioner.getClass().getSimpleName()));
        }
        return new DiffusionPipeline(this, null, network, bound, loras);
    }

    /**
     * This pipeline as the base and {@code refiner} as the second stage of one generation, as
     * diffusers runs SDXL base + refiner as an "ensemble of expert denoisers": this pipeline
     * denoises the first {@code switchAt} of the schedule (diffusers' {@code denoising_end}),
     * the refiner the rest ({@code denoising_start}) from this pipeline's latents, which stay
     * on the device, are never decoded and never leave the call; the refiner's VAE decodes the
     * images. A request is run with the same prompts, steps, guidance, seeds and sampler in
     * both stages (without a sampler: this pipeline's default; without a size: this
     * pipeline's default size); the noise of each image is one stream across both stages. With
     * an init image, this pipeline starts at the request's strength (inpainting masks are
     * refused). The images' {@code parameters} name this pipeline as the {@code Model} and
     * add {@code Refiner} and {@code Refiner switch at}, as AUTOMATIC1111 writes them; a step
     * listener sees the base's steps and then the refiner's, each counted from 0.
     *
     * <p>Thread-safe: each call holds both pipelines' read locks, as derived pipelines do, so
     * closing either waits for running calls and makes later calls fail with {@link
     * IllegalStateException}. Closing the returned pipeline releases nothing: this pipeline
     * and the refiner stay open until their owner closes them.
     *
     * @param refiner the second stage, e.g. an SDXL refiner loaded from its folder
     * @param switchAt the fraction of the schedule the base runs, in (0, 1); 0.8 is the common
     *     choice
     * @return the two-stage pipeline
     * @throws IllegalArgumentException if {@code switchAt} is not in (0, 1), either pipeline is
     *     an inpainting model, or their latent spaces (VAE channels and factor) or devices
     *     differ
     * @throws IllegalStateException if either pipeline is closed
     */
    public Pipeline withRefiner(DiffusionPipeline refiner, double switchAt) {
        java.util.Objects.requireNonNull(refiner, "refiner");
        if (!(switchAt > 0 && switchAt < 1)) {
            throw new IllegalArgumentException("switchAt must be in (0, 1), the fraction of the"
                    + " schedule the base denoises (e.g. 0.8), got " + switchAt);
        }
        if (isClosed() || refiner.isClosed()) {
            throw new IllegalStateException("the " + (isClosed() ? "base" : "refiner")
                    + " pipeline is closed");
        }
        for (DiffusionPipeline p : List.of(this, refiner)) {
            if (p.network.inChannels() != p.codec.channels()) {
                throw new IllegalArgumentException(p.modelName + " is an inpainting model ("
                        + p.network.inChannels() + " input channels); base + refiner takes"
                        + " text-to-image models");
            }
        }
        if (codec.channels() != refiner.codec.channels()
                || codec.factor() != refiner.codec.factor()) {
            throw new IllegalArgumentException("the refiner's latents (" + refiner.codec.channels()
                    + " channels, factor " + refiner.codec.factor() + ") do not fit the base's ("
                    + codec.channels() + " channels, factor " + codec.factor() + ")");
        }
        if (!options.device().equals(refiner.options.device())) {
            throw new IllegalArgumentException("the base runs on " + options.device()
                    + " but the refiner on " + refiner.options.device()
                    + "; load both on one device");
        }
        return new RefinedPipeline(this, refiner, switchAt);
    }

    /**
     * Loads a model as {@link #load(Path, PipelineOptions)} does, with decoders arranged by
     * {@code decoders}: a TAESD as the final or preview decoder, tiled VAE, the preview decoder.
     *
     * @param model the folder or checkpoint file
     * @param options device, precision and default sampler
     * @param decoders the decoder options
     * @return the loaded pipeline; close it to release the weights (the TAESD's too)
     * @throws ModelLoadException as {@link #load(Path, PipelineOptions)}, and if the TAESD
     *     folder is missing or invalid, or does not fit the model's latents (channels, factor),
     *     or if a decoder option needs a VAE the model does not have
     */
    public static DiffusionPipeline load(Path model, PipelineOptions options,
            DecoderOptions decoders) throws ModelLoadException {
        return ModelFolder.load(model, options, decoders);
    }

    /**
     * The guidance scale this model is meant to be used with.
     *
     * @return the model's default classifier-free guidance scale
     */
    public double defaultGuidance() {
        return defaultGuidance;
    }

    /**
     * The model's name as written into the PNG parameters.
     *
     * @return the name
     */
    public String modelName() {
        return modelName;
    }

    /**
     * The image size the model was trained at.
     *
     * @return the default width and height in pixels
     */
    public int defaultSize() {
        return defaultSize;
    }

    /**
     * Whether the model takes a prompt (text or class label).
     *
     * @return {@code false} for unconditional models
     */
    public boolean isConditional() {
        return conditioner != null;
    }

    /** The codec between images and the diffusion space (package-private, for tests). */
    LatentCodec codec() {
        return codec;
    }

    /** The denoising network (package-private, for tests and the two-stage pipeline). */
    NoiseNetwork network() {
        return network;
    }

    /** The conditioner, or null (package-private, for tests). */
    Conditioner conditioner() {
        return conditioner;
    }

    /** The manager of this pipeline's arrays (package-private, for tests). */
    NDManager manager() {
        return manager;
    }

    /** A derived pipeline with another conditioner over the same weights (for tests). */
    DiffusionPipeline withConditioner(Conditioner other) {
        return new DiffusionPipeline(this, null, network, other, loras);
    }

    /**
     * The noise schedule the model was trained with.
     *
     * @return the scheduler
     */
    public DiffusersScheduler scheduler() {
        return scheduler;
    }

    @Override
    public GenerationResult generate(GenerationRequest request) {
        long start = System.nanoTime();
        Plan plan = plan(request); // all validation, before any native work
        if (Thread.currentThread().isInterrupted()) {
            throw new GenerationCancelledException(-1, true);
        }
        return locked(() -> {
            List<GeneratedImage> images = new ArrayList<>();
            List<List<GeneratedImage>> progressions = new ArrayList<>();
            // Grad mode is per thread: off here whichever thread calls.
            try (GradMode noGrad = GradMode.disabled(); NDManager rm = manager.newSubManager()) {
                run(plan, rm, images, progressions, noiseFor(plan), null);
            }
            return new GenerationResult(images, request,
                    request.previewEvery() > 0 ? progressions : List.of(),
                    Duration.ofNanos(System.nanoTime() - start));
        });
    }

    /**
     * Runs {@code body} with the read locks of this pipeline and of those it is derived from
     * held, so that their arrays stay alive; fails if one of them is closed.
     */
    <T> T locked(java.util.function.Supplier<T> body) {
        List<DiffusionPipeline> chain = new ArrayList<>(); // root first, this last
        for (DiffusionPipeline p = this; p != null; p = p.parent) {
            chain.add(0, p);
        }
        int locked = 0;
        try {
            for (DiffusionPipeline p : chain) {
                p.lock.readLock().lock(); // the arrays of every pipeline used stay alive
                locked++;
            }
            if (isClosed()) {
                throw new IllegalStateException(closed ? "the pipeline is closed"
                        : "the base pipeline this one is derived from is closed");
            }
            return body.get();
        } finally {
            for (int i = locked - 1; i >= 0; i--) {
                chain.get(i).lock.readLock().unlock();
            }
        }
    }

    /** Whether this pipeline or one it is derived from is closed. */
    private boolean isClosed() {
        for (DiffusionPipeline p = this; p != null; p = p.parent) {
            if (p.closed) {
                return true;
            }
        }
        return false;
    }

    /**
     * Everything a request resolves to before native work starts. The run goes from {@code
     * sigmas[startIndex]} to {@code sigmas[endIndex]}; an end before the last index hands its
     * latents over instead of decoding them (the first stage of a {@link RefinedPipeline}).
     */
    record Plan(GenerationRequest request, int width, int height, long[] seeds,
            Sampler sampler, String samplerName, DiffusersScheduler schedule, float[] sigmas,
            float[] timesteps, int startIndex, int endIndex, boolean guided, float initSigma,
            float finalSigma, Conditioner conditioner, String prompt) {

        /** The same plan between other indices of its sigmas. */
        Plan between(int start, int end) {
            return new Plan(request, width, height, seeds, sampler, samplerName, schedule,
                    sigmas, timesteps, start, end, guided, initSigma, finalSigma, conditioner,
                    prompt);
        }

        /** Whether the run stops before the end of the schedule. */
        boolean handsOver() {
            return endIndex < sigmas.length - 1;
        }
    }

    /** The request's noise: one generator per image, or one for the batch. */
    static BatchNoise noiseFor(Plan p) {
        GenerationRequest r = p.request();
        return r.batchNoise() == GenerationRequest.BatchNoise.SHARED_GENERATOR
                ? BatchNoise.shared(p.seeds()[0], r.numImages()) : new BatchNoise(p.seeds());
    }

    /** The sampler a request without one gets (package-private, for the two-stage pipeline). */
    String defaultSampler() {
        return options.defaultSampler();
    }

    Plan plan(GenerationRequest r) {
        String samplerName = r.sampler() != null ? r.sampler() : options.defaultSampler();
        if (!Samplers.names().contains(samplerName)) {
            throw new IllegalArgumentException("sampler: unknown sampler '" + samplerName
                    + "'; available samplers: " + String.join(", ", Samplers.names()));
        }
        Sampler sampler = Samplers.create(samplerName);
        int width;
        int height;
        if (r.initImage() != null) {
            width = r.width().orElse(r.initImage().width());
            height = r.height().orElse(r.initImage().height());
            if (width != r.initImage().width() || height != r.initImage().height()) {
                throw new IllegalArgumentException("initImage is " + r.initImage().width() + "x"
                        + r.initImage().height() + " but the request asks for " + width + "x"
                        + height + "; resize the image or leave width/height unset");
            }
        } else {
            width = r.width().orElse(defaultSize);
            height = r.height().orElse(defaultSize);
        }
        int multiple = codec.factor() * network.sizeMultiple();
        if (width % multiple != 0 || height % multiple != 0) {
            throw new IllegalArgumentException("width and height must be multiples of " + multiple
                    + " for this model (got " + width + "x" + height + ")");
        }
        if (network.inChannels() != codec.channels() && r.mask() == null) {
            throw new IllegalArgumentException("this is an inpainting model (" + network.inChannels()
                    + " input channels): give an initImage and a mask");
        }
        if (conditioner == null && !r.prompt().isEmpty()) {
            throw new IllegalArgumentException(
                    "prompt: this model is unconditional; use an empty prompt");
        }
        if (conditioner instanceof ClassLabelConditioner labels) {
            labels.classOf(r.prompt());
            labels.classOf(r.negativePrompt());
        }
        // A LoRA pipeline's own <lora:> tags are taken out before the prompt is parsed.
        String prompt = loras == null ? r.prompt() : loras.stripTags(r.prompt());
        Conditioner text = conditioner == null ? null
                : TextConditioning.forRequest(conditioner, r, prompt);
        // The sampler's diffusers class decides the spacing a config leaves open, the timestep
        // rule, the initial noise and where the run stops; a request's spacing wins.
        DiffusersScheduler schedule = sampler.diffusersScheduler().map(scheduler::forSampler)
                .orElse(scheduler);
        if (r.spacing() != null) {
            schedule = schedule.withSpacing(r.spacing());
        }
        sampler = schedule.configure(sampler); // e.g. LCM's timestep_scaling
        // LCM's timestep rule takes the strength itself; the others are sliced below.
        double strength = r.initImage() != null && schedule.schedulesStrength() ? r.strength()
                : 1.0;
        float[] sigmas = schedule.sigmas(r.steps(), strength);
        float[] timesteps = schedule.timesteps(r.steps(), strength);
        boolean asDiffusers = sampler.diffusersScheduler().isPresent();
        float initSigma = asDiffusers ? schedule.initNoiseSigma(sigmas[0]) : sigmas[0];
        float finalSigma = asDiffusers ? schedule.finalSigma() : 0f;
        int startIndex = 0;
        if (r.initImage() != null && !schedule.schedulesStrength()) {
            // diffusers: init_timestep = min(int(steps * strength), steps); t_start = steps - it.
            int initSteps = Math.min((int) (r.steps() * r.strength()), r.steps());
            startIndex = r.steps() - initSteps;
        }
        long base = r.seed().isPresent() ? r.seed().getAsLong() : SEEDS.nextLong() >>> 1;
        long[] seeds = new long[r.numImages()];
        for (int i = 0; i < seeds.length; i++) {
            seeds[i] = r.batchNoise() == GenerationRequest.BatchNoise.SHARED_GENERATOR ? base
                    : base + i;
        }
        // A guidance-embedded (LCM-distilled) network takes the scale as an input instead.
        boolean guided = conditioner != null && r.guidanceScale() > 1
                && network.guidanceEmbeddingDim() == 0;
        return new Plan(r, width, height, seeds, sampler, samplerName, schedule, sigmas,
                timesteps, startIndex, sigmas.length - 1, guided, initSigma, finalSigma, text,
                prompt);
    }

    /**
     * Runs a plan: from {@code start} (latents at {@code sigmas[startIndex]} handed over by a
     * first stage; no noise is added) or else from noise or the init image. Returns the
     * latents, undecoded, if the plan hands over; otherwise adds the images and returns null.
     */
    NDArray run(Plan p, NDManager rm, List<GeneratedImage> images,
            List<List<GeneratedImage>> progressions, BatchNoise noise, NDArray start) {
        GenerationRequest r = p.request();
        int n = r.numImages();
        int h = p.height() / codec.factor();
        int w = p.width() / codec.factor();
        Shape latentShape = new Shape(n, codec.channels(), h, w);

        // Conditioning: [uncond; cond] when guided, cond alone otherwise.
        NDList condition = p.conditioner() == null ? new NDList()
                : TextConditioning.encode(p.conditioner(), rm, p.prompt(), r.negativePrompt(), n,
                        p.guided(), p.width(), p.height());
        if (network.guidanceEmbeddingDim() > 0) {
            condition.add(GuidanceEmbedding.of(rm, r.guidanceScale() - 1, n,
                    network.guidanceEmbeddingDim()));
        }

        NDArray initNoise = start != null ? null : noise.randn(rm, latentShape);
        float[] sigmas = Arrays.copyOfRange(p.sigmas(), p.startIndex(), p.endIndex() + 1);
        if (p.finalSigma() > 0 && sigmas.length > 1 && !p.handsOver()) {
            // Stop where diffusers' scheduler stops (final_alpha_cumprod); a last step to the
            // same level would change nothing.
            int last = sigmas.length - 1;
            if (p.finalSigma() < sigmas[last - 1]) {
                sigmas[last] = p.finalSigma();
            } else {
                sigmas = Arrays.copyOf(sigmas, last);
            }
        }

        NDArray initLatents = null;
        NDArray mask = null;
        NDArray maskedLatents = null;
        if (r.initImage() != null && start == null) {
            NDArray pixels = ImageTensors.toTensor(rm, r.initImage());
            initLatents = repeat(codec.encode(pixels), n);
            if (r.mask() != null) {
                NDArray pixelMask = ImageTensors.maskTensor(rm, r.mask());
                mask = repeat(downsampleMask(pixelMask), n);
                if (network.inChannels() != codec.channels()) {
                    NDArray masked = pixels.mul(pixelMask.sub(1).neg()); // keep region only
                    maskedLatents = repeat(codec.encode(masked), n);
                }
            }
        }

        NDArray x = start != null ? start
                : initNoise.mul(initLatents == null ? p.initSigma() : sigmas[0]);
        if (initLatents != null && sigmas[0] > 0) { // none with a handed-over start
            x = x.add(initLatents);
        } else if (initLatents != null) {
            x = initLatents;
        }

        VpDenoiser vp = VpDenoiser.of(model(p, condition, mask, maskedLatents, n), p.schedule())
                .forRun(p.sigmas(), p.timesteps());
        Denoiser denoiser = vp;
        if (mask != null && maskedLatents == null) {
            denoiser = new KeepKnownRegion(denoiser, initLatents, initNoise, mask);
        }

        List<NDArray> kept = new ArrayList<>();
        StepListener listener = new Watch(r, p.guided(), kept, rm);
        NDArray latents = x;
        if (sigmas.length > 1) {
            SamplingContext ctx = SamplingContext.of(noise, listener)
                    .withTimesteps(s -> vp.timestepFor((float) s));
            latents = p.sampler().sample(denoiser, x, sigmas, ctx);
        }
        if (p.handsOver()) {
            previews(p, kept, progressions);
            return latents;
        }
        float end = sigmas[sigmas.length - 1];
        if (end > 0) {
            latents = latents.mul((float) (1 / Math.sqrt((double) end * end + 1))); // VP sample
        }
        NDArray pixels = codec.decode(latents);
        if (mask != null && r.mask() != null) {
            // Paste the exact init pixels back outside the mask.
            NDArray pixelMask = ImageTensors.maskTensor(rm, r.mask());
            NDArray init = ImageTensors.toTensor(rm, r.initImage());
            pixels = pixels.mul(pixelMask).add(init.mul(pixelMask.sub(1).neg()));
        }
        // The same for every image of the request.
        String recordedPrompt = loras == null ? r.prompt() : loras.recordedPrompt(r.prompt());
        Map<String, String> loraSettings = TextConditioning.recorded(r,
                loras == null ? Map.of() : loras.settings());
        int clipSkip = TextConditioning.clipSkip(p.conditioner());
        for (int i = 0; i < n; i++) {
            String params = ParametersText.format(recordedPrompt, r.negativePrompt(), r.steps(),
                    p.samplerName(), r.guidanceScale(), p.seeds()[i], p.width(), p.height(),
                    modelName, r.initImage() != null ? r.strength() : null,
                    p.schedule().spacingName(), clipSkip, loraSettings);
            if (r.batchNoise() == GenerationRequest.BatchNoise.SHARED_GENERATOR && n > 1) {
                params += ", Batch size: " + n + ", Batch pos: " + i;
            }
            images.add(ImageTensors.toImage(pixels, i, p.seeds()[i],
                    Map.of(GeneratedImage.PARAMETERS_KEY, params)));
        }
        previews(p, kept, progressions);
        return null;
    }

    /** Decodes the kept x₀ previews into each image's progression. */
    private void previews(Plan p, List<NDArray> kept, List<List<GeneratedImage>> progressions) {
        int n = p.request().numImages();
        if (p.request().previewEvery() > 0) {
            while (progressions.size() < n) {
                progressions.add(new ArrayList<>());
            }
            for (NDArray x0 : kept) {
                NDArray decoded = codec.preview(x0);
                for (int i = 0; i < n; i++) {
                    progressions.get(i).add(
                            ImageTensors.toImage(decoded, i, p.seeds()[i], Map.of()));
                }
            }
        }
    }

    private static NDArray repeat(NDArray single, int n) {
        return n == 1 ? single : single.repeat(0, n);
    }

    private NDArray downsampleMask(NDArray pixelMask) {
        int f = codec.factor();
        if (f == 1) {
            return pixelMask;
        }
        // A latent cell is repainted if any of its pixels is (max-pool), so no seam of old
        // content survives at the mask border.
        Shape s = pixelMask.getShape();
        return pixelMask.reshape(1, 1, s.get(2) / f, f, s.get(3) / f, f).max(new int[] {5}).max(new int[] {3});
    }

    /** The network with conditioning and guidance bound, as the VP adapter calls it. */
    private VpModel model(Plan p, NDList condition, NDArray mask, NDArray maskedLatents, int n) {
        GenerationRequest r = p.request();
        float scale = (float) r.guidanceScale();
        float rescale = (float) r.guidanceRescale();
        return (scaledX, t) -> {
            NDArray in = scaledX;
            if (maskedLatents != null) {
                in = NDArrays.concat(new NDList(scaledX, mask, maskedLatents), 1);
            }
            int batch = p.guided() ? 2 * n : n;
            if (p.guided()) {
                in = NDArrays.concat(new NDList(in, in), 0);
            }
            NDArray ts = in.getManager().full(new Shape(batch), t, DataType.FLOAT32);
            NDArray out = network.predict(in, ts, condition);
            if (!p.guided()) {
                return out;
            }
            NDArray uncond = out.get("0:" + n);
            NDArray cond = out.get(n + ":");
            NDArray guided = uncond.add(cond.sub(uncond).mul(scale));
            if (rescale > 0) {
                guided = rescaleGuidance(guided, cond, rescale);
            }
            return guided;
        };
    }

    /**
     * Guidance rescale of Lin et al. (2023), eq. 15–16: scale the guided prediction to the
     * per-sample standard deviation of the conditional one, then blend with factor φ.
     */
    static NDArray rescaleGuidance(NDArray guided, NDArray cond, float phi) {
        NDArray stdCond = std(cond);
        NDArray stdGuided = std(guided);
        NDArray rescaled = guided.mul(stdCond.div(stdGuided));
        return rescaled.mul(phi).add(guided.mul(1 - phi));
    }

    /** Per-sample standard deviation over all but the batch axis, shaped (N, 1, ..., 1). */
    private static NDArray std(NDArray x) {
        // This engine reduces one axis at a time: flatten each sample first.
        Shape s = x.getShape();
        NDArray flat = x.reshape(s.get(0), -1); // (N, C*H*W)
        NDArray mean = flat.mean(new int[] {1}, true);
        NDArray std = flat.sub(mean).square().mean(new int[] {1}, true).sqrt(); // (N, 1)
        long[] dims = new long[s.dimension()];
        Arrays.fill(dims, 1);
        dims[0] = s.get(0);
        return std.reshape(new Shape(dims));
    }

    /** Keeps the known region of an ordinary model's inpainting, re-noised to each σ. */
    private static final class KeepKnownRegion implements Denoiser {
        private final Denoiser inner;
        private final NDArray known;
        private final NDArray noise;
        private final NDArray mask;

        KeepKnownRegion(Denoiser inner, NDArray known, NDArray noise, NDArray mask) {
            this.inner = inner;
            this.known = known;
            this.noise = noise;
            this.mask = mask;
        }

        @Override
        public NDArray denoise(NDArray x, float sigma) {
            NDArray keep = mask.sub(1).neg();
            NDArray renoised = known.add(noise.mul(sigma));
            NDArray merged = x.mul(mask).add(renoised.mul(keep));
            NDArray x0 = inner.denoise(merged, sigma);
            return x0.mul(mask).add(known.mul(keep));
        }
    }

    /**
     * The largest guidance scale that is still a plausible request: the guided prediction is
     * uncond + scale·(cond − uncond), and scales in common use stay below 30.
     */
    private static final double PLAUSIBLE_GUIDANCE = 100;

    /** Checks every step for non-finite values, keeps previews, and forwards to the user. */
    private static final class Watch implements StepListener {
        private final GenerationRequest request;
        private final boolean guided;
        private final List<NDArray> kept;
        private final NDManager keepIn;

        Watch(GenerationRequest request, boolean guided, List<NDArray> kept, NDManager keepIn) {
            this.request = request;
            this.guided = guided;
            this.kept = kept;
            this.keepIn = keepIn;
        }

        @Override
        public boolean onStep(StepEvent e) {
            NDArray x0 = e.denoised();
            boolean bad = x0.isNaN().logicalOr(x0.isInfinite()).any().getBoolean();
            if (bad) {
                throw new IllegalStateException(String.format(java.util.Locale.ROOT,
                        "the model produced NaN or infinite values at step %d of %d (sigma %.4f);"
                                + " %s", e.stepIndex() + 1, e.totalSteps(), e.sigma(),
                        likelyCause()));
            }
            int k = request.previewEvery();
            if (k > 0 && ((e.stepIndex() + 1) % k == 0 || e.isLast())) {
                kept.add(e.copyDenoised(keepIn));
            }
            return request.listener().onStep(e);
        }

        /** What most likely made the values overflow, as advice. */
        private String likelyCause() {
            double g = request.guidanceScale();
            if (guided && Math.abs(g) > PLAUSIBLE_GUIDANCE) {
                return String.format(java.util.Locale.ROOT, "the likely cause is the guidance"
                        + " scale %.3g, which multiplies the difference between the conditional"
                        + " and unconditional predictions until float32 overflows: use a"
                        + " guidanceScale between 1 and about 20", g);
            }
            return "the request's values are in their usual ranges, so the weights may be"
                    + " corrupt (e.g. huge or non-finite values) or their data type unsupported";
        }
    }

    /**
     * Releases the weights, after waiting for calls of {@link #generate} running on other
     * threads; later calls fail with {@link IllegalStateException}. Closing twice is harmless.
     * A derived pipeline frees only what it owns (see the class description); closing a
     * pipeline closes every pipeline derived from it.
     *
     * @throws IllegalStateException if called from inside a {@link #generate} call on this
     *     pipeline on the same thread (for example from a {@link StepListener}), which would
     *     wait for itself; to stop that generation, return {@code false} from the listener and
     *     close the pipeline after {@code generate} returns
     */
    @Override
    public void close() {
        if (lock.getReadHoldCount() > 0) {
            throw new IllegalStateException("close() was called from inside generate() on the"
                    + " same thread (e.g. from a StepListener) and would wait for itself for"
                    + " ever; return false from the listener to cancel the run, and close the"
                    + " pipeline after generate() returns");
        }
        lock.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                if (owned != null) {
                    owned.close(); // a loaded pipeline's also holds its derived ones' arrays
                }
                LOG.debug("closed pipeline {}", modelName);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }
}
