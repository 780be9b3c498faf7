package dev.jdiffusion.djl.weights;

import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tensor names of OpenCLIP text towers as single-file checkpoints store them (SD 2.x's
 * OpenCLIP ViT-H under {@code cond_stage_model.model.}, SDXL's OpenCLIP ViT-bigG under {@code
 * conditioner.embedders.1.model.}, or {@code conditioner.embedders.0.model.} in the refiner),
 * and their transformers {@code CLIPTextModel[WithProjection]} names.
 *
 * <p>Besides renaming ({@code transformer.resblocks.i} → {@code text_model.encoder.layers.i},
 * {@code ln_1}/{@code ln_2} → {@code layer_norm1}/{@code layer_norm2}, {@code mlp.c_fc}/{@code
 * c_proj} → {@code mlp.fc1}/{@code fc2}, {@code attn} → {@code self_attn}, {@code
 * positional_embedding}, {@code token_embedding}, {@code ln_final}), two tensors change form:
 * the fused attention input projection {@code in_proj_weight} (3D, D) and {@code in_proj_bias}
 * (3D) are q, k and v in that order, rows [0, D), [D, 2D), [2D, 3D); and {@code
 * text_projection} is a (D, P) matrix applied as {@code x @ text_projection}, the transpose of
 * the linear weight (P, D) of transformers. {@code logit_scale} (a CLIP training scalar) has no
 * place in a text model and is skipped. Stateless and thread-safe.
 */
public final class OpenClipKeys {

    private static final Map<String, String> TOP = Map.of(
            "positional_embedding", "text_model.embeddings.position_embedding.weight",
            "token_embedding.weight", "text_model.embeddings.token_embedding.weight",
            "ln_final.weight", "text_model.final_layer_norm.weight",
            "ln_final.bias", "text_model.final_layer_norm.bias");
    private static final Map<String, String> LAYER = Map.of(
            "ln_1.", "layer_norm1.", "ln_2.", "layer_norm2.", "mlp.c_fc.", "mlp.fc1.",
            "mlp.c_proj.", "mlp.fc2.", "attn.out_proj.", "self_attn.out_proj.");
    private static final Pattern RESBLOCK = Pattern.compile(
            "transformer\\.resblocks\\.(\\d{1,6})\\.(.+)");
    private static final Pattern ENCODER_LAYER = Pattern.compile(
            "text_model\\.encoder\\.layers\\.(\\d{1,6})\\.(.+)");
    private static final List<String> QKV = List.of("q_proj", "k_proj", "v_proj");

    /** The name of the projection in a stored file. */
    public static final String TEXT_PROJECTION = "text_projection";
    /** The CLIP training scalar some files carry. */
    public static final String LOGIT_SCALE = "logit_scale";

    private OpenClipKeys() {}

    /**
     * The mapping that loads an OpenCLIP text tower into a transformers-shaped CLIP text model.
     *
     * @param prefix the tower's prefix in the file, e.g. {@code cond_stage_model.model.}
     * @param droppedLayer a resblock to skip, or -1: SD 2.x's checkpoints hold one resblock more
     *     (index 23) than diffusers' 23-layer text encoder, which conditions on the penultimate
     *     layer; resblocks beyond the model's layers other than this one are unexpected
     * @param projection whether the model has {@code text_projection.weight}; without, the
     *     stored {@code text_projection} is skipped
     * @return the mapping; names outside the prefix are skipped, names inside that fit nothing
     *     are kept as they are (and reported as unexpected)
     */
    public static KeyMapping mapping(String prefix, int droppedLayer, boolean projection) {
        return new KeyMapping() {
            @Override
            public String targetName(String storedName) {
                List<Part> parts = targets(storedName, new Shape());
                return parts.isEmpty() ? null : parts.get(0).name();
            }

            @Override
            public List<Part> targets(String stored, Shape shape) {
                if (!stored.startsWith(prefix)) {
                    return List.of();
                }
                String r = stored.substring(prefix.length());
                if (r.equals(LOGIT_SCALE) || (r.equals(TEXT_PROJECTION) && !projection)) {
                    return List.of();
                }
                if (r.equals(TEXT_PROJECTION)) {
                    return shape.dimension() == 2
                            ? List.of(Part.transposed("text_projection.weight", shape))
                            : List.of(Part.whole(stored, shape));
                }
                Matcher m = RESBLOCK.matcher(r);
                if (m.matches() && Integer.parseInt(m.group(1)) == droppedLayer) {
                    return List.of();
                }
                if (m.matches() && (m.group(2).equals("attn.in_proj_weight")
                        || m.group(2).equals("attn.in_proj_bias"))) {
                    String kind = m.group(2).endsWith("weight") ? "weight" : "bias";
                    long d = shape.dimension() == 0 ? 0 : shape.get(0) / 3;
                    if (d == 0 || shape.get(0) != 3 * d) {
                        return List.of(Part.whole(stored, shape));
                    }
                    String layer = "text_model.encoder.layers." + m.group(1) + ".self_attn.";
                    return List.of(Part.rows(layer + "q_proj." + kind, 0, d, shape),
                            Part.rows(layer + "k_proj." + kind, d, 2 * d, shape),
                            Part.rows(layer + "v_proj." + kind, 2 * d, 3 * d, shape));
                }
                String name = toTransformers(r);
                return List.of(Part.whole(name == null ? stored : name, shape));
            }
        };
    }

    /**
     * A stored OpenCLIP name (without the prefix) as a transformers name, for the tensors that
     * are renamed only.
     *
     * @param name e.g. {@code transformer.resblocks.3.mlp.c_fc.weight}
     * @return e.g. {@code text_model.encoder.layers.3.mlp.fc1.weight}, or null if the tensor
     *     is fused, transposed, or fits nothing
     */
    public static String toTransformers(String name) {
        String top = TOP.get(name);
        if (top != null) {
            return top;
        }
        Matcher m = RESBLOCK.matcher(name);
        if (m.matches()) {
            for (Map.Entry<String, String> e : LAYER.entrySet()) {
                if (m.group(2).startsWith(e.getKey())) {
                    return "text_model.encoder.layers." + m.group(1) + "." + e.getValue()
                            + m.group(2).substring(e.getKey().length());
                }
            }
        }
        return null;
    }

    /**
     * A transformers name as the stored OpenCLIP name that holds it (the fused tensor for q, k
     * and v).
     *
     * @param prefix the tower's prefix in the file
     * @param name e.g. {@code text_model.encoder.layers.0.self_attn.k_proj.bias}
     * @return e.g. {@code <prefix>transformer.resblocks.0.attn.in_proj_bias}
     * @throws IllegalArgumentException if the name is not a CLIP text model parameter
     */
    public static String toStored(String prefix, String name) {
        if (name.equals("text_projection.weight")) {
            return prefix + TEXT_PROJECTION;
        }
        for (Map.Entry<String, String> e : TOP.entrySet()) {
            if (e.getValue().equals(name)) {
                return prefix + e.getKey();
            }
        }
        Matcher m = ENCODER_LAYER.matcher(name);
        if (m.matches()) {
            String block = prefix + "transformer.resblocks." + m.group(1) + ".";
            String r = m.group(2);
            for (String qkv : QKV) {
                if (r.equals("self_attn." + qkv + ".weight")) {
                    return block + "attn.in_proj_weight";
                }
                if (r.equals("self_attn." + qkv + ".bias")) {
                    return block + "attn.in_proj_bias";
                }
            }
            for (Map.Entry<String, String> e : LAYER.entrySet()) {
                if (r.startsWith(e.getValue())) {
                    return block + e.getKey() + r.substring(e.getValue().length());
                }
            }
        }
        throw new IllegalArgumentException("'" + name + "' is not a CLIP text model parameter");
    }
}
