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
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A single-file Stable Diffusion checkpoint ({@code .safetensors} with {@code
 * model.diffusion_model.*}, {@code first_stage_model.*} and {@code
 * cond_stage_model.transformer.*} tensors), split into its UNet, VAE and text encoder under
 * diffusers names. Pickle checkpoints are refused before anything is read.
 *
 * <p>Opening reads only the header; {@link #loadUnet}, {@link #loadVae} and {@link
 * #loadTextEncoder} each read their component's tensors. Tensors under none of the three
 * prefixes (EMA copies, schedule buffers) are ignored and listed by {@link #otherNames}.
 * Thread-safe for loads into distinct models; close it when done (loaded arrays stay valid).
 */
public final class SingleFileCheckpoint implements AutoCloseable {

    private final SafetensorsFile file;
    private final UnetLayout unetLayout;
    private final int vaeLevels;
    private final List<String> otherNames;

    private SingleFileCheckpoint(SafetensorsFile file, UnetLayout unetLayout, int vaeLevels,
            List<String> otherNames) {
        this.file = file;
        this.unetLayout = unetLayout;
        this.vaeLevels = vaeLevels;
        this.otherNames = otherNames;
    }

    /**
     * Opens and validates a checkpoint, inferring the UNet and VAE structure from its names.
     *
     * @param path the {@code .safetensors} file
     * @return the checkpoint; close it when done
     * @throws ModelLoadException if the file is a pickle, invalid, or lacks any of the three
     *     components or has an irregular UNet/VAE structure
     */
    public static SingleFileCheckpoint open(Path path) throws ModelLoadException {
        PickleGuard.refusePickle(path);
        SafetensorsFile file = SafetensorsFile.open(path);
        try {
            List<String> others = new ArrayList<>();
            int vaeLevels = 0;
            boolean unet = false;
            boolean text = false;
            Pattern down = Pattern.compile(Pattern.quote(LdmKeys.VAE_PREFIX)
                    + "encoder\\.down\\.(\\d{1,6})\\.");
            for (String n : file.names()) {
                if (n.startsWith(LdmKeys.UNET_PREFIX)) {
                    unet = true;
                } else if (n.startsWith(LdmKeys.TEXT_ENCODER_PREFIX)) {
                    text = true;
                } else if (n.startsWith(LdmKeys.VAE_PREFIX)) {
                    Matcher m = down.matcher(n);
                    if (m.lookingAt() && m.group(1).length() < 4) {
                        vaeLevels = Math.max(vaeLevels, Integer.parseInt(m.group(1)) + 1);
                    }
                } else {
                    others.add(n);
                }
            }
            List<String> missing = new ArrayList<>();
            if (!unet) {
                missing.add("UNet (" + LdmKeys.UNET_PREFIX + "*)");
            }
            if (vaeLevels == 0) {
                missing.add("VAE (" + LdmKeys.VAE_PREFIX + "encoder.down.*)");
            }
            if (!text) {
                missing.add("text encoder (" + LdmKeys.TEXT_ENCODER_PREFIX + "*)");
            }
            if (!missing.isEmpty()) {
                throw new ModelLoadException(path + ": not a single-file Stable Diffusion "
                        + "checkpoint: no " + String.join(", no ", missing) + " tensors"
                        + " (SDXL and other architectures are not supported yet)");
            }
            UnetLayout layout;
            try {
                layout = UnetLayout.fromLdmNames(file.names());
            } catch (IllegalArgumentException e) {
                throw new ModelLoadException(path + ": " + e.getMessage(), e);
            }
            return new SingleFileCheckpoint(file, layout, vaeLevels,
                    Collections.unmodifiableList(others));
        } catch (ModelLoadException | RuntimeException e) {
            file.close();
            throw e;
        }
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
     * Loads the CLIP text encoder ({@code text_model.*} names).
     *
     * @param parameters the text encoder's parameters under transformers names
     * @param manager owns the arrays
     * @param dataType FLOAT32 or FLOAT16
     * @return what was loaded
     * @throws ModelLoadException as {@link StateDict#load}
     */
    public StateDict.LoadSummary loadTextEncoder(Map<String, Parameter> parameters,
            NDManager manager, DataType dataType) throws ModelLoadException {
        return StateDict.load("text encoder", parameters, List.of(file),
                LdmKeys.textEncoderMapping(), manager, dataType);
    }

    /**
     * Writes the three components as one single-file checkpoint under LDM names.
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
        UnetLayout layout = UnetLayout.fromDiffusersNames(unet.keySet());
        int levels = 0;
        Pattern down = Pattern.compile("encoder\\.down_blocks\\.(\\d{1,6})\\.");
        for (String n : vae.keySet()) {
            Matcher m = down.matcher(n);
            if (m.lookingAt()) {
                levels = Math.max(levels, Integer.parseInt(m.group(1)) + 1);
            }
        }
        Map<String, NDArray> out = new LinkedHashMap<>();
        List<NDArray> views = new ArrayList<>();
        try {
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
            for (Map.Entry<String, Parameter> e : textEncoder.entrySet()) {
                out.put(LdmKeys.textEncoderToLdm(e.getKey()), value(e));
            }
            SafetensorsWriter.write(path, out, metadata, storeAs);
        } finally {
            views.forEach(NDArray::close);
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
