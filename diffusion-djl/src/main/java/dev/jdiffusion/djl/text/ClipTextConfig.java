package dev.jdiffusion.djl.text;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.OptionalInt;

/**
 * The shape of a CLIP text encoder, as in transformers' {@code text_encoder/config.json}.
 * Immutable; the constructor throws {@link IllegalArgumentException} for a size that is not
 * positive or could not be a real model (over 20 billion parameters, before anything is
 * allocated), heads that do not divide the width, or an unknown activation.
 *
 * @param vocabSize {@code vocab_size}, the number of token ids (49408 for CLIP)
 * @param hiddenSize {@code hidden_size}, the embedding width D
 * @param intermediateSize {@code intermediate_size}, the MLP width
 * @param numHiddenLayers {@code num_hidden_layers}, the number of transformer layers
 * @param numAttentionHeads {@code num_attention_heads}; must divide {@code hiddenSize}
 * @param maxPositionEmbeddings {@code max_position_embeddings}, the longest sequence (77)
 * @param hiddenAct {@code hidden_act}: {@code quick_gelu} (SD 1.x) or {@code gelu} (SD 2.x)
 * @param layerNormEps {@code layer_norm_eps}
 * @param projectionDim {@code projection_dim}, only carried along (the projection head is not
 *     part of the text model)
 */
public record ClipTextConfig(int vocabSize, int hiddenSize, int intermediateSize,
        int numHiddenLayers, int numAttentionHeads, int maxPositionEmbeddings, String hiddenAct,
        float layerNormEps, OptionalInt projectionDim) {

    /** The activation of Stable Diffusion 1.x's encoder, x·σ(1.702·x). */
    public static final String QUICK_GELU = "quick_gelu";
    /** The exact (erf) GELU of Stable Diffusion 2.x's encoder. */
    public static final String GELU = "gelu";

    private static final long MAX_PARAMETERS = 20_000_000_000L;

    /**
     * Validates the configuration.
     *
     * @param vocabSize the number of token ids
     * @param hiddenSize the embedding width
     * @param intermediateSize the MLP width
     * @param numHiddenLayers the number of layers
     * @param numAttentionHeads the number of heads, a divisor of {@code hiddenSize}
     * @param maxPositionEmbeddings the longest sequence
     * @param hiddenAct {@code quick_gelu} or {@code gelu}
     * @param layerNormEps the LayerNorm epsilon, in (0, 1)
     * @param projectionDim the projection width, or empty ({@code null} is read as empty)
     * @throws IllegalArgumentException if a size is not positive or absurdly large, the heads
     *     do not divide the width, or the activation is unknown
     */
    public ClipTextConfig {
        check("vocab_size", vocabSize, 10_000_000);
        check("hidden_size", hiddenSize, 65_536);
        check("intermediate_size", intermediateSize, 262_144);
        check("num_hidden_layers", numHiddenLayers, 1_000);
        check("num_attention_heads", numAttentionHeads, 1_024);
        check("max_position_embeddings", maxPositionEmbeddings, 65_536);
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize
                    + " must be a multiple of num_attention_heads " + numAttentionHeads);
        }
        if (!QUICK_GELU.equals(hiddenAct) && !GELU.equals(hiddenAct)) {
            throw new IllegalArgumentException("hidden_act must be '" + QUICK_GELU + "' or '"
                    + GELU + "', got '" + hiddenAct + "'");
        }
        if (!(layerNormEps > 0 && layerNormEps < 1)) {
            throw new IllegalArgumentException(
                    "layer_norm_eps must be in (0, 1), got " + layerNormEps);
        }
        if (projectionDim == null) {
            projectionDim = OptionalInt.empty();
        }
        if (projectionDim.isPresent()) {
            check("projection_dim", projectionDim.getAsInt(), 65_536);
        }
        long params = (long) (vocabSize + maxPositionEmbeddings) * hiddenSize
                + (long) numHiddenLayers * (4L * hiddenSize * hiddenSize
                        + 2L * hiddenSize * intermediateSize);
        if (params > MAX_PARAMETERS) {
            throw new IllegalArgumentException("the configuration describes " + params
                    + " parameters, more than the " + MAX_PARAMETERS + " allowed");
        }
    }

    private static void check(String name, int value, int max) {
        if (value <= 0 || value > max) {
            throw new IllegalArgumentException(
                    name + " must be in 1.." + max + ", got " + value);
        }
    }

    /**
     * The text encoder of Stable Diffusion 1.x (OpenAI CLIP ViT-L/14's text tower).
     *
     * @return vocab 49408, width 768, MLP 3072, 12 layers, 12 heads, 77 positions, quick_gelu
     */
    public static ClipTextConfig sd15() {
        return new ClipTextConfig(49408, 768, 3072, 12, 12, 77, QUICK_GELU, 1e-5f,
                OptionalInt.of(768));
    }

    /**
     * The width of one attention head.
     *
     * @return {@code hiddenSize / numAttentionHeads}
     */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /**
     * Reads transformers' {@code config.json}. The sizes are required; {@code hidden_act}
     * defaults to {@code quick_gelu} and {@code layer_norm_eps} to 1e-5 as in transformers;
     * other fields are ignored.
     *
     * @param file the {@code text_encoder/config.json} file
     * @return the configuration
     * @throws ModelLoadException if the file is missing, not JSON, lacks a size or is invalid
     */
    public static ClipTextConfig fromJson(Path file) throws ModelLoadException {
        JsonNode root;
        try {
            root = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .readTree(file.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new ModelLoadException("text encoder config not found: " + file, e);
        } catch (IOException e) {
            throw new ModelLoadException(
                    "cannot parse text encoder config " + file + ": " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelLoadException("text encoder config " + file + " is not a JSON object");
        }
        try {
            JsonNode proj = root.path("projection_dim");
            return new ClipTextConfig(
                    requireInt(root, "vocab_size"),
                    requireInt(root, "hidden_size"),
                    requireInt(root, "intermediate_size"),
                    requireInt(root, "num_hidden_layers"),
                    requireInt(root, "num_attention_heads"),
                    requireInt(root, "max_position_embeddings"),
                    root.path("hidden_act").asText(QUICK_GELU),
                    root.has("layer_norm_eps")
                            ? (float) root.get("layer_norm_eps").asDouble(Double.NaN) : 1e-5f,
                    proj.canConvertToInt() && proj.isIntegralNumber()
                            ? OptionalInt.of(proj.asInt()) : OptionalInt.empty());
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(
                    "invalid text encoder config " + file + ": " + e.getMessage(), e);
        }
    }

    private static int requireInt(JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(
                    "field '" + field + "' is missing or not an integer: " + n);
        }
        return n.asInt();
    }

    /**
     * The configuration as transformers' {@code config.json} ({@code model_type
     * clip_text_model}, {@code architectures [CLIPTextModel]}), readable by {@link
     * #fromJson(Path)} and by transformers.
     *
     * @return pretty-printed JSON
     */
    public String toJson() {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode n = mapper.createObjectNode();
        n.putArray("architectures").add("CLIPTextModel");
        n.put("model_type", "clip_text_model");
        n.put("vocab_size", vocabSize);
        n.put("hidden_size", hiddenSize);
        n.put("intermediate_size", intermediateSize);
        n.put("num_hidden_layers", numHiddenLayers);
        n.put("num_attention_heads", numAttentionHeads);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        n.put("hidden_act", hiddenAct);
        n.put("layer_norm_eps", Double.parseDouble(Float.toString(layerNormEps)));
        projectionDim.ifPresent(p -> n.put("projection_dim", p));
        try {
            return mapper.writeValueAsString(n);
        } catch (IOException e) {
            throw new IllegalStateException(e); // cannot happen for a tree of plain values
        }
    }
}
