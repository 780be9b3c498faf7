package dev.jdiffusion.djl.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.djl.weights.LdmKeys;
import dev.jdiffusion.djl.weights.WeightOverlay;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Computes patched weights {@code W' = W + Σ s · up · down} for one or more LoRAs, with {@code
 * s = weight × alpha / rank} (rank = rows of down; alpha = rank when the file has none). For a
 * convolution the down matrix is a k×k convolution (rank, in, k, k) and the up matrix a 1×1
 * convolution (out, rank, 1, 1): {@code up.reshape(out, rank) · down.reshape(rank, in·k·k)}
 * reshaped to (out, in, k, k). The sum is formed in float32 and stored in the parameter's own
 * data type.
 *
 * <p>The parameters are only read; the patched arrays are new arrays owned by the given
 * manager. Every LoRA layer must name a parameter of the model with a fitting shape, otherwise
 * nothing is computed and a {@link ModelLoadException} names how many did not and lists a few.
 * Stateless; concurrent calls are safe as long as nobody writes the parameters.
 */
public final class LoraMerge {

    private LoraMerge() {}

    /**
     * What a merge produced.
     *
     * @param unet the patched UNet weights, as an overlay on the UNet's parameters
     * @param textEncoder the patched (first) text encoder weights
     * @param textEncoder2 the patched weights of SDXL's second text encoder (empty otherwise)
     * @param unetLayers the number of UNet weights patched
     * @param textEncoderLayers the number of text encoder weights patched, both encoders
     * @param loras the LoRAs applied, in order
     */
    public record Result(WeightOverlay unet, WeightOverlay textEncoder, WeightOverlay textEncoder2,
            int unetLayers, int textEncoderLayers, List<Lora> loras) {

        /**
         * Copies the list.
         *
         * @param unet the UNet overlay
         * @param textEncoder the text encoder overlay
         * @param textEncoder2 the second text encoder's overlay
         * @param unetLayers UNet weights patched
         * @param textEncoderLayers text encoder weights patched
         * @param loras the LoRAs applied
         */
        public Result {
            loras = List.copyOf(loras);
        }
    }

    /** One low-rank term of one parameter. */
    private record Term(LoraFile file, LoraFile.Layer layer, double scale, long rank) {}

    /**
     * Reads the LoRAs and computes the patched weights.
     *
     * @param loras the LoRAs with their weights; a file may appear more than once
     * @param unet the UNet's parameters by dotted (diffusers) name
     * @param textEncoder the text encoder's parameters by dotted name, or null if the model has
     *     none (then a LoRA with text encoder layers is refused)
     * @param owner the manager that will own the patched arrays (the parameters' device)
     * @return the patched weights
     * @throws ModelLoadException if a file cannot be read or is not a supported LoRA, or if a
     *     layer fits no parameter of the model
     */
    public static Result compute(List<Lora> loras, Map<String, Parameter> unet,
            Map<String, Parameter> textEncoder, NDManager owner) throws ModelLoadException {
        return compute(loras, unet, textEncoder, null, owner);
    }

    /**
     * Reads the LoRAs and computes the patched weights, for a model with two text encoders.
     *
     * @param loras the LoRAs with their weights; a file may appear more than once
     * @param unet the UNet's parameters by dotted (diffusers) name
     * @param textEncoder the (first) text encoder's parameters by dotted name, or null
     * @param textEncoder2 SDXL's {@code text_encoder_2} parameters by dotted name, or null if
     *     the model has none (then a LoRA with {@code lora_te2_} layers is refused)
     * @param owner the manager that will own the patched arrays (the parameters' device)
     * @return the patched weights
     * @throws ModelLoadException if a file cannot be read or is not a supported LoRA, or if a
     *     layer fits no parameter of the model
     */
    public static Result compute(List<Lora> loras, Map<String, Parameter> unet,
            Map<String, Parameter> textEncoder, Map<String, Parameter> textEncoder2,
            NDManager owner) throws ModelLoadException {
        Objects.requireNonNull(owner, "owner");
        Map<LoraFile.Part, Resolver> resolvers = new java.util.EnumMap<>(LoraFile.Part.class);
        resolvers.put(LoraFile.Part.UNET, new Resolver(unet, true));
        if (textEncoder != null) {
            resolvers.put(LoraFile.Part.TEXT_ENCODER, new Resolver(textEncoder, false));
        }
        if (textEncoder2 != null) {
            resolvers.put(LoraFile.Part.TEXT_ENCODER_2, new Resolver(textEncoder2, false));
        }
        List<LoraFile> open = new ArrayList<>();
        try {
            Map<Parameter, List<Term>> terms = new LinkedHashMap<>();
            Map<Parameter, LoraFile.Part> parts = new IdentityHashMap<>();
            for (Lora lora : loras) {
                LoraFile file = LoraFile.open(lora.file());
                open.add(file);
                List<String> unmatched = new ArrayList<>();
                for (LoraFile.Layer layer : file.layers()) {
                    Resolver r = resolvers.get(layer.part());
                    Parameter p = r == null ? null : r.find(layer);
                    String problem = p == null ? null : shapeProblem(file, layer, p);
                    if (p == null || problem != null) {
                        unmatched.add((layer.dotted() ? layer.module() : prefix(layer)
                                + layer.module()) + (problem == null ? "" : " (" + problem + ")"));
                        continue;
                    }
                    long rank = file.safetensors().info(layer.downKey()).dims()[0];
                    double alpha = rank;
                    if (layer.alphaKey() != null) {
                        float[] a = file.safetensors().readFloats(layer.alphaKey());
                        if (a.length != 1 || !Float.isFinite(a[0])) {
                            throw new ModelLoadException(lora.file() + ": alpha "
                                    + layer.alphaKey() + " is not one finite number");
                        }
                        alpha = a[0];
                    }
                    terms.computeIfAbsent(p, x -> new ArrayList<>())
                            .add(new Term(file, layer, lora.weight() * alpha / rank, rank));
                    parts.put(p, layer.part());
                }
                if (!unmatched.isEmpty()) {
                    String why = file.layers().stream().map(LoraFile.Layer::part)
                            .filter(part -> !resolvers.containsKey(part)).findFirst()
                            .map(part -> part == LoraFile.Part.TEXT_ENCODER_2
                                    ? " (it patches SDXL's text_encoder_2, which this model has"
                                            + " not)"
                                    : " (this model has no text encoder)").orElse("");
                    throw new ModelLoadException(lora.file() + ": " + unmatched.size() + " of "
                            + file.layers().size() + " LoRA layers fit no weight of this model"
                            + why + "; is the LoRA for another model family (e.g. SDXL)? "
                            + LoraFile.listed(unmatched));
                }
            }
            return merge(terms, parts, loras, owner);
        } finally {
            for (LoraFile f : open) {
                f.close();
            }
        }
    }

    private static Result merge(Map<Parameter, List<Term>> terms,
            Map<Parameter, LoraFile.Part> parts, List<Lora> loras, NDManager owner)
            throws ModelLoadException {
        Map<LoraFile.Part, Map<Parameter, NDArray>> patched =
                new java.util.EnumMap<>(LoraFile.Part.class);
        for (LoraFile.Part part : LoraFile.Part.values()) {
            patched.put(part, new LinkedHashMap<>());
        }
        List<NDArray> made = new ArrayList<>();
        boolean ok = false;
        try {
            for (Map.Entry<Parameter, List<Term>> e : terms.entrySet()) {
                Parameter p = e.getKey();
                NDArray w = p.getArray();
                NDArray value;
                try (NDManager tmp = owner.newSubManager(w.getDevice())) {
                    NDArray sum = w.toType(DataType.FLOAT32, true);
                    sum.attach(tmp);
                    for (Term t : e.getValue()) {
                        SafetensorsFile f = t.file().safetensors();
                        NDArray down = f.read(t.layer().downKey(), tmp, DataType.FLOAT32, true);
                        NDArray up = f.read(t.layer().upKey(), tmp, DataType.FLOAT32, true);
                        NDArray delta = up.reshape(up.getShape().get(0), t.rank())
                                .matMul(down.reshape(t.rank(), -1))
                                .reshape(w.getShape()); // (out, in[, kh, kw])
                        sum = sum.add(delta.mul((float) t.scale()));
                    }
                    value = sum.toType(w.getDataType(), true);
                    value.attach(owner);
                }
                made.add(value);
                patched.get(parts.get(p)).put(p, value);
            }
            ok = true;
        } finally {
            if (!ok) {
                made.forEach(NDArray::close);
            }
        }
        Map<Parameter, NDArray> unet = patched.get(LoraFile.Part.UNET);
        Map<Parameter, NDArray> text = patched.get(LoraFile.Part.TEXT_ENCODER);
        Map<Parameter, NDArray> text2 = patched.get(LoraFile.Part.TEXT_ENCODER_2);
        return new Result(WeightOverlay.of(unet), WeightOverlay.of(text), WeightOverlay.of(text2),
                unet.size(), text.size() + text2.size(), loras);
    }

    private static String prefix(LoraFile.Layer layer) {
        return switch (layer.part()) {
            case UNET -> "lora_unet_";
            case TEXT_ENCODER -> "lora_te_";
            case TEXT_ENCODER_2 -> "lora_te2_";
        };
    }

    /** Why a layer's matrices do not fit the parameter, or null if they do. */
    private static String shapeProblem(LoraFile file, LoraFile.Layer layer, Parameter p) {
        if (!p.isInitialized()) {
            return "the model's weight has no value";
        }
        TensorInfo down = file.safetensors().info(layer.downKey());
        TensorInfo up = file.safetensors().info(layer.upKey());
        long[] w = p.getArray().getShape().getShape();
        long[] d = down.dims();
        long[] u = up.dims();
        if (d.length < 2 || u.length < 2 || w.length < 2) {
            return "down " + Arrays.toString(d) + " / up " + Arrays.toString(u)
                    + " are not matrices";
        }
        long rank = d[0];
        long upCols = 1;
        for (int i = 1; i < u.length; i++) {
            upCols *= u[i];
        }
        long downCols = down.elementCount() / Math.max(rank, 1);
        long wIn = new Shape(w).size() / w[0];
        if (rank < 1 || upCols != rank || u[0] != w[0] || downCols != wIn) {
            return "down " + Arrays.toString(d) + " and up " + Arrays.toString(u)
                    + " do not make the weight's shape " + Arrays.toString(w);
        }
        if (!down.dtype().isReadableAsFloat() || !up.dtype().isReadableAsFloat()) {
            return "not floating point";
        }
        return null;
    }

    /**
     * The parameter name a layer patches (for tests of the name mapping alone).
     *
     * @return the dotted parameter name, or null if the layer fits no weight by name
     */
    static String targetName(LoraFile.Layer layer, Map<String, Parameter> unet,
            Map<String, Parameter> textEncoder) {
        Map<String, Parameter> params = layer.part() == LoraFile.Part.UNET ? unet : textEncoder;
        Parameter p = new Resolver(params, layer.part() == LoraFile.Part.UNET).find(layer);
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            if (e.getValue() == p) {
                return e.getKey();
            }
        }
        return null;
    }

    /** LoRA module names → the model's weight parameters. */
    private static final class Resolver {
        private final Map<String, Parameter> dotted = new HashMap<>();
        private final Map<String, Parameter> underscored = new HashMap<>();

        Resolver(Map<String, Parameter> params, boolean unet) {
            LdmKeys.UnetLayout layout = null;
            if (unet) {
                try {
                    layout = LdmKeys.UnetLayout.fromDiffusersNames(params.keySet());
                } catch (IllegalArgumentException e) {
                    layout = null; // no down blocks: LDM names do not apply
                }
            }
            Map<String, Parameter> ambiguous = new HashMap<>();
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                String name = e.getKey();
                if (!name.endsWith(".weight")) {
                    continue;
                }
                String module = name.substring(0, name.length() - ".weight".length());
                dotted.put(module, e.getValue());
                put(module.replace('.', '_'), e.getValue(), ambiguous);
                if (layout != null) {
                    try {
                        String ldm = LdmKeys.unetToLdm(name, layout)
                                .substring(LdmKeys.UNET_PREFIX.length());
                        put(ldm.substring(0, ldm.length() - ".weight".length()).replace('.', '_'),
                                e.getValue(), ambiguous);
                    } catch (IllegalArgumentException ex) {
                        // a name without an LDM counterpart: reachable by diffusers names only
                    }
                }
            }
            ambiguous.keySet().forEach(underscored::remove);
        }

        private void put(String key, Parameter p, Map<String, Parameter> ambiguous) {
            Parameter old = underscored.putIfAbsent(key, p);
            if (old != null && old != p) {
                ambiguous.put(key, p);
            }
        }

        Parameter find(LoraFile.Layer layer) {
            return layer.dotted() ? dotted.get(layer.module()) : underscored.get(layer.module());
        }
    }
}
