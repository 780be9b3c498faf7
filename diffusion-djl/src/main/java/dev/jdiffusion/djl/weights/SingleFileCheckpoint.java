package dev.jdiffusion.djl.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import dev.jdiffusion.djl.weights.LdmKeys.UnetLayout;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A single-file Stable Diffusion checkpoint ({@code .safetensors} in the original LDM/SGM
 * layout: {@code model.diffusion_model.*}, {@code first_stage_model.*} and the text encoders'
 * tensors), split into its components under diffusers names. SD 1.x, SD 2.x, SDXL base and
 * SDXL refiner files are recognised by their text encoders ({@link CheckpointFamily}). Pickle
 * checkpoints are refused before anything is read.
 *
 * <p>Opening reads only the header; {@link #loadUnet}, {@link #loadVae}, {@link
 * #loadTextEncoder} and {@link #loadTextEncoder2} each read their component's tensors; an
 * OpenCLIP tower's fused q/k/v projection is loaded as three views of the one stored tensor
 * and its {@code text_projection} as a transposed view (no copy of the file). Tensors the
 * components do not use (EMA copies, schedule buffers, OpenCLIP's {@code logit_scale}, the
 * unused {@code text_projection} and 24th resblock of SD 2.x's OpenCLIP-H, which diffusers'
 * 23-layer text encoder drops) are ignored and listed by {@link #otherNames}. Thread-safe for
 * loads into distinct models; close it when done (loaded arrays stay valid).
 */
public final class SingleFileCheckpoint implements AutoCloseable {

    private static final Pattern RESBLOCK = Pattern.compile(
            "transformer\\.resblocks\\.(\\d{1,6})\\.");

    private final SafetensorsFile file;
    private final CheckpointFamily family;
    private final UnetLayout unetLayout;
    private final int vaeLevels;
    private final List<String> otherNames;

    private SingleFileCheckpoint(SafetensorsFile file, CheckpointFamily family,
            UnetLayout unetLayout, int vaeLevels, List<String> otherNames) {
        this.file = file;
        this.family = family;
        this.unetLayout = unetLayout;
        this.vaeLevels = vaeLevels;
        this.otherNames = otherNames;
    }

    /**
     * Opens and validates a checkpoint, recognising its family and inferring the UNet and VAE
     * structure from its names.
     *
     * @param path the {@code .safetensors} file
     * @return the checkpoint; close it when done
     * @throws ModelLoadException if the file is a pickle, invalid, lacks a component, has text
     *     encoders of no known family, or has an irregular UNet/VAE structure
     */
    public static SingleFileCheckpoint open(Path path) throws ModelLoadException {
        PickleGuard.refusePickle(path);
        SafetensorsFile file = SafetensorsFile.open(path);
        try {
            int vaeLevels = 0;
            boolean unet = false;
            Pattern down = Pattern.compile(Pattern.quote(LdmKeys.VAE_PREFIX)
                    + "encoder\\.down\\.(\\d{1,6})\\.");
            for (String n : file.names()) {
                if (n.startsWith(LdmKeys.UNET_PREFIX)) {
                    unet = true;
                } else if (n.startsWith(LdmKeys.VAE_PREFIX)) {
                    Matcher m = down.matcher(n);
                    if (m.lookingAt() && m.group(1).length() < 4) {
                        vaeLevels = Math.max(vaeLevels, Integer.parseInt(m.group(1)) + 1);
                    }
                }
            }
            List<String> missing = new ArrayList<>();
            if (!unet) {
                missing.add("UNet (" + LdmKeys.UNET_PREFIX + "*)");
            }
            if (vaeLevels == 0) {
                missing.add("VAE (" + LdmKeys.VAE_PREFIX + "encoder.down.*)");
            }
            CheckpointFamily family = null;
            String textProblem = null;
            try {
                family = CheckpointFamily.detect(file.names());
            } catch (IllegalArgumentException e) {
                textProblem = e.getMessage();
            }
            if (!missing.isEmpty() || family == null) {
                throw new ModelLoadException(path + ": not a single-file Stable Diffusion "
                        + "checkpoint: " + (missing.isEmpty() ? ""
                                : "no " + String.join(", no ", missing) + " tensors"
                                        + (textProblem == null ? "" : "; "))
                        + (textProblem == null ? "" : textProblem)
                        + " (SD 1.x, SD 2.x, SDXL base and SDXL refiner files are supported)");
            }
            UnetLayout layout;
            try {
                layout = UnetLayout.fromLdmNames(file.names());
            } catch (IllegalArgumentException e) {
                throw new ModelLoadException(path + ": " + e.getMessage(), e);
            }
            List<String> others = new ArrayList<>();
            for (String n : file.names()) {
                if (!n.startsWith(LdmKeys.UNET_PREFIX) && !n.startsWith(LdmKeys.VAE_PREFIX)
                        && !inTextEncoder(family, n, file.names())) {
                    others.add(n);
                }
            }
            return new SingleFileCheckpoint(file, family, layout, vaeLevels,
                    Collections.unmodifiableList(others));
        } catch (ModelLoadException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** Whether a name is one a text encoder of the family loads (not one its mapping drops). */
    private static boolean inTextEncoder(CheckpointFamily family, String name,
            Collection<String> names) {
        String p1 = family.textEncoderPrefix();
        String p2 = family.textEncoder2Prefix();
        if (family == CheckpointFamily.SD2 && name.startsWith(p1)) {
            // The original OpenCLIP-H files hold 24 resblocks, diffusers' encoder 23.
            int dropped = lastResblock(names, p1) == 23 ? 23 : -1;
            return !OpenClipKeys.mapping(p1, dropped, false)
                    .targets(name, new Shape(3)).isEmpty();
        }
        if (p2 != null && name.startsWith(p2)) {
            return !OpenClipKeys.mapping(p2, -1, true).targets(name, new Shape(3)).isEmpty();
        }
        return p1 != null && name.startsWith(p1); // CLIP's position_ids buffer counts as its own
    }

    /** The highest resblock index under a prefix, or -1. */
    private static int lastResblock(Collection<String> names, String prefix) {
        int last = -1;
        for (String n : names) {
            if (n.startsWith(prefix)) {
                Matcher m = RESBLOCK.matcher(n.substring(prefix.length()));
                if (m.lookingAt()) {
                    last = Math.max(last, Integer.parseInt(m.group(1)));
                }
            }
        }
        return last;
    }

    /**
     * The model family recognised from the text encoders' names.
     *
     * @return SD 1.x, SD 2.x, SDXL base or SDXL refiner
     */
    public CheckpointFamily family() {
        return family;
    }

    /**
     * The underlying file.
     *
     * @return the open safetensors file
     */
    public SafetensorsFile file() {
        return file;
    }

    /**
     * The UNet structure inferred from the names.
     *
     * @return levels, layers per block and up blocks with attention
     */
    public UnetLayout unetLayout() {
        return unetLayout;
    }

    /**
     * The VAE's number of resolution levels, inferred from the names.
     *
     * @return 4 for Stable Diffusion
     */
    public int vaeLevels() {
        return vaeLevels;
    }

    /**
     * Tensors that belong to none of the three components (ignored when loading).
     *
     * @return their names
     */
    public List<String> otherNames() {
        return otherNames;
    }

    /**
     * Loads the UNet.
     *
     * @param parameters the UNet's parameters under diffusers names
     * @param manager owns the arrays
     * @param dataType FLOAT32 or FLOAT16
     * @return what was loaded
     * @throws ModelLoadException as {@link StateDict#load}
     */
    public StateDict.LoadSummary loadUnet(Map<String, Parameter> parameters, NDManager manager,
            DataType dataType) throws ModelLoadException {
        return StateDict.load("unet", parameters, List.of(file),
                LdmKeys.unetMapping(unetLayout), manager, dataType);
    }

    /**
     * Loads the VAE (attention weights reshaped from 1×1 convolutions to linear).
     *
     * @param parameters the VAE's parameters under diffusers names
     * @param manager owns the arrays
     * @param dataType FLOAT32 or FLOAT16
     * @return what was loaded
     * @throws ModelLoadException as {@link StateDict#load}
     */
    public StateDict.LoadSummary loadVae(Map<String, Parameter> parameters, NDManager manager,
            DataType dataType) throws ModelLoadException {
        return StateDict.load("vae", parameters, List.of(file), LdmKeys.vaeMapping(vaeLevels),
                manager, dataType);
    }

    /**
     * Loads the first text encoder under transformers {@code CLIPTextModel} names ({@code
     * text_model.*}): SD 1.x's CLIP, SD 2.x's OpenCLIP-H (q/k/v split from the fused
     * projection; a resblock beyond the model's layers, the 24th of the original files, is
     * skipped) or SDXL base's CLIP ViT-L.
     *
     * @param parameters the text encoder's parameters under transformers names
     * @param manager owns the arrays
     * @param dataType FLOAT32 or FLOAT16
     * @return what was loaded
     * @throws ModelLoadException as {@link StateDict#load}, or if the file is an SDXL refiner,
     *     which has no such encoder
     */
    public StateDict.LoadSummary loadTextEncoder(Map<String, Parameter> parameters,
            NDManager manager, DataType dataType) throws ModelLoadException {
        if (family == CheckpointFamily.SDXL_REFINER) {
            throw new ModelLoadException(file.path() + ": an SDXL refiner checkpoint has only "
                    + "the OpenCLIP ViT-bigG text encoder (" + family.textEncoder2Prefix()
                    + "*); load it with loadTextEncoder2");
        }
        KeyMapping mapping = textEncoderMapping(family, false, layers(parameters),
                parameters.containsKey("text_projection.weight"));
        return StateDict.load("text encoder", parameters, List.of(file), mapping, manager,
                dataType);
    }

    /**
     * Loads SDXL's OpenCLIP ViT-bigG text encoder (diffusers' {@code text_encoder_2}, a
     * {@code CLIPTextModelWithProjection}): q/k/v split from the fused projection, {@code
     * text_projection.weight} the transpose of the stored {@code text_projection}.
     *
     * @param parameters the encoder's parameters under transformers names
     * @param manager owns the arrays
     * @param dataType FLOAT32 or FLOAT16
     * @return what was loaded
     * @throws ModelLoadException as {@link StateDict#load}, or if the file is not SDXL
     */
    public StateDict.LoadSummary loadTextEncoder2(Map<String, Parameter> parameters,
            NDManager manager, DataType dataType) throws ModelLoadException {
        if (family.textEncoder2Prefix() == null) {
            throw new ModelLoadException(file.path() + ": a " + family.displayName()
                    + " checkpoint has no second text encoder (conditioner.embedders.*.model.*)");
        }
        return StateDict.load("text encoder 2", parameters, List.of(file),
                textEncoderMapping(family, true, layers(parameters),
                        parameters.containsKey("text_projection.weight")),
                manager, dataType);
    }

    /**
     * The mapping that loads a family's first or second text encoder.
     *
     * @param family the file's family
     * @param second the second (OpenCLIP bigG) encoder of SDXL rather than the first
     * @param layers the model's number of layers (SD 2.x files may hold one more, skipped)
     * @param projection whether the model has {@code text_projection.weight}
     * @return the mapping
     */
    static KeyMapping textEncoderMapping(CheckpointFamily family, boolean second, int layers,
            boolean projection) {
        if (second) {
            return OpenClipKeys.mapping(family.textEncoder2Prefix(), -1, projection);
        }
        return switch (family) {
            case SD1 -> LdmKeys.textEncoderMapping();
            case SD2 -> OpenClipKeys.mapping(family.textEncoderPrefix(), layers, projection);
            case SDXL_BASE -> LdmKeys.textEncoderMapping(family.textEncoderPrefix());
            case SDXL_REFINER -> throw new IllegalArgumentException("the SDXL refiner has no "
                    + "first text encoder");
        };
    }

    /** The number of {@code text_model.encoder.layers.N} of a model's parameters. */
    private static int layers(Map<String, Parameter> parameters) {
        Pattern layer = Pattern.compile("text_model\\.encoder\\.layers\\.(\\d{1,6})\\.");
        int n = 0;
        for (String k : parameters.keySet()) {
            Matcher m = layer.matcher(k);
            if (m.lookingAt()) {
                n = Math.max(n, Integer.parseInt(m.group(1)) + 1);
            }
        }
        return n;
    }

    /**
     * Writes the three components of an SD 1.x model as one single-file checkpoint under LDM
     * names (SDXL base: {@link #saveSdxl}; SD 2.x files are read, not written).
     *
     * @param path the target {@code .safetensors} file (written atomically)
     * @param unet the UNet's parameters under diffusers names
     * @param vae the VAE's parameters under diffusers names
     * @param textEncoder the text encoder's parameters under transformers names
     * @param storeAs FLOAT32 or FLOAT16
     * @param metadata header metadata; may be empty
     * @throws IOException if writing fails
     * @throws IllegalArgumentException if a name fits no LDM block or a parameter has no value
     */
    public static void save(Path path, Map<String, Parameter> unet, Map<String, Parameter> vae,
            Map<String, Parameter> textEncoder, DataType storeAs, Map<String, String> metadata)
            throws IOException {
        Map<String, NDArray> out = new LinkedHashMap<>();
        List<NDArray> views = new ArrayList<>();
        try {
            unetAndVae(unet, vae, out, views);
            for (Map.Entry<String, Parameter> e : textEncoder.entrySet()) {
                out.put(LdmKeys.textEncoderToLdm(e.getKey()), value(e));
            }
            SafetensorsWriter.write(path, out, metadata, storeAs);
        } finally {
            views.forEach(NDArray::close);
        }
    }

    /**
     * Writes the four components of an SDXL base model as one single-file checkpoint in the
     * SGM layout of {@code sd_xl_base_1.0.safetensors}: the UNet and VAE under LDM names, CLIP
     * ViT-L under {@code conditioner.embedders.0.transformer.}, OpenCLIP ViT-bigG under {@code
     * conditioner.embedders.1.model.} with q/k/v fused into {@code in_proj_weight}/{@code
     * in_proj_bias} and {@code text_projection} stored transposed, as {@link #open} reads them.
     *
     * @param path the target {@code .safetensors} file (written atomically)
     * @param unet the UNet's parameters under diffusers names
     * @param vae the VAE's parameters under diffusers names
     * @param textEncoder the first text encoder's parameters under transformers names
     * @param textEncoder2 the second text encoder's parameters ({@code
     *     CLIPTextModelWithProjection} names)
     * @param storeAs FLOAT32 or FLOAT16
     * @param metadata header metadata; may be empty
     * @throws IOException if writing fails
     * @throws IllegalArgumentException if a name fits no block, a parameter has no value, or
     *     an attention lacks one of q, k and v
     */
    public static void saveSdxl(Path path, Map<String, Parameter> unet,
            Map<String, Parameter> vae, Map<String, Parameter> textEncoder,
            Map<String, Parameter> textEncoder2, DataType storeAs, Map<String, String> metadata)
            throws IOException {
        Map<String, NDArray> out = new LinkedHashMap<>();
        List<NDArray> temporaries = new ArrayList<>();
        try {
            unetAndVae(unet, vae, out, temporaries);
            String p1 = CheckpointFamily.SDXL_BASE.textEncoderPrefix();
            for (Map.Entry<String, Parameter> e : textEncoder.entrySet()) {
                out.put(p1 + e.getKey(), value(e));
            }
            String p2 = CheckpointFamily.SDXL_BASE.textEncoder2Prefix();
            Map<String, NDArray[]> fused = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : textEncoder2.entrySet()) {
                String name = e.getKey();
                String stored = OpenClipKeys.toStored(p2, name);
                NDArray a = value(e);
                if (stored.endsWith(".in_proj_weight") || stored.endsWith(".in_proj_bias")) {
                    int slot = name.contains(".q_proj.") ? 0 : name.contains(".k_proj.") ? 1 : 2;
                    fused.computeIfAbsent(stored, k -> new NDArray[3])[slot] = a;
                } else if (name.equals("text_projection.weight")) {
                    NDArray t = a.transpose();
                    temporaries.add(t);
                    out.put(stored, t);
                } else {
                    out.put(stored, a);
                }
            }
            for (Map.Entry<String, NDArray[]> f : fused.entrySet()) {
                NDArray[] qkv = f.getValue();
                if (qkv[0] == null || qkv[1] == null || qkv[2] == null) {
                    throw new IllegalArgumentException("'" + f.getKey() + "' needs q, k and v:"
                            + " one of them is missing from the second text encoder");
                }
                NDArray joined = qkv[0].concat(qkv[1], 0).concat(qkv[2], 0);
                temporaries.add(joined);
                out.put(f.getKey(), joined);
            }
            SafetensorsWriter.write(path, out, metadata, storeAs);
        } finally {
            temporaries.forEach(NDArray::close);
        }
    }

    /** The UNet and VAE under LDM names (VAE attention weights as 1×1 convolutions). */
    private static void unetAndVae(Map<String, Parameter> unet, Map<String, Parameter> vae,
            Map<String, NDArray> out, List<NDArray> views) {
        UnetLayout layout = UnetLayout.fromDiffusersNames(unet.keySet());
        int levels = 0;
        Pattern down = Pattern.compile("encoder\\.down_blocks\\.(\\d{1,6})\\.");
        for (String n : vae.keySet()) {
            Matcher m = down.matcher(n);
            if (m.lookingAt()) {
                levels = Math.max(levels, Integer.parseInt(m.group(1)) + 1);
            }
        }
        for (Map.Entry<String, Parameter> e : unet.entrySet()) {
            out.put(LdmKeys.unetToLdm(e.getKey(), layout), value(e));
        }
        for (Map.Entry<String, Parameter> e : vae.entrySet()) {
            NDArray a = value(e);
            Shape ldm = LdmKeys.vaeShapeToLdm(e.getKey(), a.getShape());
            if (!ldm.equals(a.getShape())) {
                a = a.reshape(ldm);
                views.add(a);
            }
            out.put(LdmKeys.vaeToLdm(e.getKey(), levels), a);
        }
    }

    private static NDArray value(Map.Entry<String, Parameter> e) {
        if (!e.getValue().isInitialized()) {
            throw new IllegalArgumentException("parameter '" + e.getKey() + "' has no value");
        }
        return e.getValue().getArray();
    }

    /** Closes the file; arrays already loaded stay valid. */
    @Override
    public void close() {
        file.close();
    }
}
