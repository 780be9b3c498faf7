package dev.jdiffusion.djl.weights;

import ai.djl.ndarray.types.Shape;
import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tensor names of single-file Stable Diffusion checkpoints (the original LDM/CompVis layout:
 * {@code model.diffusion_model.*}, {@code first_stage_model.*},
 * {@code cond_stage_model.transformer.*}) and their diffusers/transformers names, both ways.
 *
 * <p>The mapping is derived from the structure, not from a table: the UNet's flat
 * {@code input_blocks.N.S} / {@code output_blocks.N.S} lists become {@code down_blocks.i} /
 * {@code up_blocks.i} by index arithmetic over {@code layersPerBlock} (each down level holds
 * {@code layersPerBlock} resnet[+attention] entries and one downsampler, each up level {@code
 * layersPerBlock + 1} entries, the last with the upsampler); the VAE decoder's {@code up.i} is
 * numbered from the bottom ({@code up_blocks[levels − 1 − i]}); SDXL's {@code label_emb.0.0} /
 * {@code label_emb.0.2} are the {@code add_embedding.linear_1} / {@code linear_2} of
 * addition_embed_type "text_time"; the VAE mid-block attention's
 * 1×1-convolution weights (C, C, 1, 1) are diffusers linear weights (C, C). Stateless and
 * thread-safe.
 */
public final class LdmKeys {

    /** Prefix of the UNet's tensors in a single-file checkpoint. */
    public static final String UNET_PREFIX = "model.diffusion_model.";
    /** Prefix of the VAE's tensors. */
    public static final String VAE_PREFIX = "first_stage_model.";
    /** Prefix of the CLIP text encoder's tensors. */
    public static final String TEXT_ENCODER_PREFIX = "cond_stage_model.transformer.";
    /** A buffer some text encoder files carry that is not a parameter. */
    public static final String POSITION_IDS = "text_model.embeddings.position_ids";

    private static final Map<String, String> UNET_RESNET = Map.of(
            "in_layers.0", "norm1", "in_layers.2", "conv1", "emb_layers.1", "time_emb_proj",
            "out_layers.0", "norm2", "out_layers.3", "conv2", "skip_connection", "conv_shortcut");
    private static final Map<String, String> VAE_ATTENTION = Map.of(
            "norm", "group_norm", "q", "to_q", "k", "to_k", "v", "to_v", "proj_out", "to_out.0");
    private static final Pattern VAE_ATTN_WEIGHT = Pattern.compile(
            "(encoder|decoder)\\.mid_block\\.attentions\\.0\\."
                    + "(to_q|to_k|to_v|to_out\\.0)\\.weight");

    private LdmKeys() {}

    /**
     * The block structure of a UNet, as far as names depend on it.
     *
     * @param levels the number of resolution levels (down blocks = up blocks)
     * @param layersPerBlock resnets per down block (up blocks have one more)
     * @param upBlocksWithAttention indices of the up blocks that have attentions (they put the
     *     upsampler at sub-index 2 of their last entry instead of 1)
     */
    public record UnetLayout(int levels, int layersPerBlock, Set<Integer> upBlocksWithAttention) {

        /** Stable Diffusion 1.x and 2.x: four levels, two layers, attention in up blocks 1–3. */
        public static final UnetLayout SD = new UnetLayout(4, 2, Set.of(1, 2, 3));

        /**
         * Creates and checks a layout.
         *
         * @param levels at least 1
         * @param layersPerBlock at least 1
         * @param upBlocksWithAttention indices in [0, levels)
         */
        public UnetLayout {
            if (levels < 1 || layersPerBlock < 1) {
                throw new IllegalArgumentException("levels and layersPerBlock must be >= 1 (got "
                        + levels + ", " + layersPerBlock + ")");
            }
            upBlocksWithAttention = Set.copyOf(upBlocksWithAttention);
            for (int i : upBlocksWithAttention) {
                if (i < 0 || i >= levels) {
                    throw new IllegalArgumentException("up block " + i + " is outside [0, "
                            + levels + ")");
                }
            }
        }

        /**
         * Infers the layout from a single-file checkpoint's UNet names.
         *
         * @param names tensor names, with or without other components' names among them
         * @return the layout
         * @throws IllegalArgumentException if the names hold no consistent UNet structure
         */
        public static UnetLayout fromLdmNames(Collection<String> names) {
            Pattern in = Pattern.compile(Pattern.quote(UNET_PREFIX)
                    + "input_blocks\\.(\\d{1,6})\\.0\\.op\\.");
            Pattern any = Pattern.compile(Pattern.quote(UNET_PREFIX)
                    + "(input|output)_blocks\\.(\\d{1,6})\\.(\\d{1,6})\\.(\\w+)");
            TreeSet<Integer> downsamplers = new TreeSet<>();
            int maxInput = -1;
            int maxOutput = -1;
            for (String n : names) {
                Matcher m = in.matcher(n);
                if (m.lookingAt()) {
                    downsamplers.add(Integer.parseInt(m.group(1)));
                }
                Matcher a = any.matcher(n);
                if (a.lookingAt()) {
                    int idx = Integer.parseInt(a.group(2));
                    if (a.group(1).equals("input")) {
                        maxInput = Math.max(maxInput, idx);
                    } else {
                        maxOutput = Math.max(maxOutput, idx);
                    }
                }
            }
            if (maxInput < 1 || maxOutput < 0) {
                throw new IllegalArgumentException("no UNet input/output blocks under "
                        + UNET_PREFIX);
            }
            int layers = downsamplers.isEmpty() ? maxInput : downsamplers.first() - 1;
            int levels = downsamplers.size() + 1;
            if (layers < 1 || maxInput != levels * (layers + 1) - 1
                    || maxOutput != levels * (layers + 1) - 1) {
                throw new IllegalArgumentException("UNet blocks do not form a regular layout: "
                        + (maxInput + 1) + " input blocks, " + (maxOutput + 1)
                        + " output blocks, downsamplers at " + downsamplers);
            }
            Set<Integer> attention = new TreeSet<>();
            Pattern out = Pattern.compile(Pattern.quote(UNET_PREFIX)
                    + "output_blocks\\.(\\d{1,6})\\.1\\.(\\w+)");
            for (String n : names) {
                Matcher m = out.matcher(n);
                if (m.lookingAt() && !m.group(2).equals("conv")) {
                    attention.add(Integer.parseInt(m.group(1)) / (layers + 1));
                }
            }
            return new UnetLayout(levels, layers, attention);
        }

        /**
         * Infers the layout from diffusers UNet parameter names.
         *
         * @param names dotted names such as {@code down_blocks.0.resnets.1.conv1.weight}
         * @return the layout
         * @throws IllegalArgumentException if the names hold no down blocks
         */
        public static UnetLayout fromDiffusersNames(Collection<String> names) {
            Pattern down = Pattern.compile("down_blocks\\.(\\d{1,6})\\.resnets\\.(\\d{1,6})\\.");
            Pattern upAttn = Pattern.compile("up_blocks\\.(\\d{1,6})\\.attentions\\.");
            int levels = 0;
            int layers = 0;
            Set<Integer> attention = new TreeSet<>();
            for (String n : names) {
                Matcher m = down.matcher(n);
                if (m.lookingAt()) {
                    levels = Math.max(levels, Integer.parseInt(m.group(1)) + 1);
                    layers = Math.max(layers, Integer.parseInt(m.group(2)) + 1);
                }
                Matcher u = upAttn.matcher(n);
                if (u.lookingAt()) {
                    attention.add(Integer.parseInt(u.group(1)));
                }
            }
            if (levels == 0) {
                throw new IllegalArgumentException("no down_blocks.*.resnets.* parameters");
            }
            return new UnetLayout(levels, layers, attention);
        }
    }

    // ---------------------------------------------------------------- UNet

    /**
     * An LDM UNet name as a diffusers name.
     *
     * @param ldmName e.g. {@code model.diffusion_model.input_blocks.1.0.in_layers.0.weight}
     * @param layout the UNet's structure
     * @return e.g. {@code down_blocks.0.resnets.0.norm1.weight}, or null if the name does not
     *     start with {@link #UNET_PREFIX}
     * @throws IllegalArgumentException if the name is under the prefix but fits no block
     */
    public static String unetToDiffusers(String ldmName, UnetLayout layout) {
        if (!ldmName.startsWith(UNET_PREFIX)) {
            return null;
        }
        String[] p = ldmName.substring(UNET_PREFIX.length()).split("\\.", -1);
        int per = layout.layersPerBlock() + 1;
        String mapped = switch (p[0]) {
            case "time_embed" -> p.length > 2 && p[1].equals("0")
                    ? "time_embedding.linear_1." + rest(p, 2)
                    : p.length > 2 && p[1].equals("2") ? "time_embedding.linear_2." + rest(p, 2)
                    : null;
            case "label_emb" -> p.length > 3 && p[1].equals("0") && p[2].equals("0")
                    ? "add_embedding.linear_1." + rest(p, 3)
                    : p.length > 3 && p[1].equals("0") && p[2].equals("2")
                            ? "add_embedding.linear_2." + rest(p, 3) : null;
            case "out" -> p.length > 2 && p[1].equals("0") ? "conv_norm_out." + rest(p, 2)
                    : p.length > 2 && p[1].equals("2") ? "conv_out." + rest(p, 2) : null;
            case "middle_block" -> {
                int s = index(p, 1);
                String r = rest(p, 2);
                yield s == 0 ? resnet("mid_block.resnets.0.", r)
                        : s == 1 ? "mid_block.attentions.0." + r
                        : s == 2 ? resnet("mid_block.resnets.1.", r) : null;
            }
            case "input_blocks" -> {
                int n = index(p, 1);
                int s = index(p, 2);
                String r = rest(p, 3);
                if (n == 0) {
                    yield s == 0 ? "conv_in." + r : null;
                }
                int level = (n - 1) / per;
                int j = (n - 1) % per;
                if (n < 0 || level >= layout.levels()) {
                    yield null;
                }
                String block = "down_blocks." + level + ".";
                if (j == layout.layersPerBlock()) {
                    yield s == 0 && r.startsWith("op.") && level < layout.levels() - 1
                            ? block + "downsamplers.0.conv." + r.substring(3) : null;
                }
                yield s == 0 ? resnet(block + "resnets." + j + ".", r)
                        : s == 1 ? block + "attentions." + j + "." + r : null;
            }
            case "output_blocks" -> {
                int n = index(p, 1);
                int s = index(p, 2);
                String r = rest(p, 3);
                int level = n / per;
                int j = n % per;
                if (n < 0 || level >= layout.levels()) {
                    yield null;
                }
                String block = "up_blocks." + level + ".";
                boolean attention = layout.upBlocksWithAttention().contains(level);
                int upsamplerSlot = attention ? 2 : 1;
                if (s == upsamplerSlot && j == layout.layersPerBlock() && r.startsWith("conv.")
                        && level < layout.levels() - 1) {
                    yield block + "upsamplers.0.conv." + r.substring(5);
                }
                yield s == 0 ? resnet(block + "resnets." + j + ".", r)
                        : s == 1 && attention ? block + "attentions." + j + "." + r : null;
            }
            default -> null;
        };
        if (mapped == null || mapped.endsWith(".")) {
            throw new IllegalArgumentException("'" + ldmName + "' fits no block of a UNet with "
                    + layout);
        }
        return mapped;
    }

    /**
     * A diffusers UNet name as an LDM name (the inverse of {@link #unetToDiffusers}).
     *
     * @param name e.g. {@code up_blocks.1.upsamplers.0.conv.weight}
     * @param layout the UNet's structure
     * @return e.g. {@code model.diffusion_model.output_blocks.5.2.conv.weight}
     * @throws IllegalArgumentException if the name fits no block
     */
    public static String unetToLdm(String name, UnetLayout layout) {
        String[] p = name.split("\\.", -1);
        int per = layout.layersPerBlock() + 1;
        String mapped = switch (p[0]) {
            case "conv_in" -> "input_blocks.0.0." + rest(p, 1);
            case "conv_norm_out" -> "out.0." + rest(p, 1);
            case "conv_out" -> "out.2." + rest(p, 1);
            case "time_embedding" -> p.length > 2 && p[1].equals("linear_1")
                    ? "time_embed.0." + rest(p, 2)
                    : p.length > 2 && p[1].equals("linear_2") ? "time_embed.2." + rest(p, 2) : null;
            case "add_embedding" -> p.length > 2 && p[1].equals("linear_1")
                    ? "label_emb.0.0." + rest(p, 2)
                    : p.length > 2 && p[1].equals("linear_2") ? "label_emb.0.2." + rest(p, 2)
                    : null;
            case "mid_block" -> {
                String kind = p.length > 2 ? p[1] + "." + p[2] : "";
                String r = rest(p, 3);
                yield switch (kind) {
                    case "resnets.0" -> ldmResnet("middle_block.0.", r);
                    case "attentions.0" -> "middle_block.1." + r;
                    case "resnets.1" -> ldmResnet("middle_block.2.", r);
                    default -> null;
                };
            }
            case "down_blocks" -> {
                int i = index(p, 1);
                int j = index(p, 3);
                String r = rest(p, 4);
                if (i < 0 || i >= layout.levels() || j < 0) {
                    yield null;
                }
                int base = 1 + i * per;
                yield switch (p[2]) {
                    case "resnets" -> j < layout.layersPerBlock()
                            ? ldmResnet("input_blocks." + (base + j) + ".0.", r) : null;
                    case "attentions" -> j < layout.layersPerBlock()
                            ? "input_blocks." + (base + j) + ".1." + r : null;
                    case "downsamplers" -> j == 0 && r.startsWith("conv.")
                            ? "input_blocks." + (base + layout.layersPerBlock()) + ".0.op."
                                    + r.substring(5) : null;
                    default -> null;
                };
            }
            case "up_blocks" -> {
                int i = index(p, 1);
                int j = index(p, 3);
                String r = rest(p, 4);
                if (i < 0 || i >= layout.levels() || j < 0) {
                    yield null;
                }
                int base = i * per;
                int upsamplerSlot = layout.upBlocksWithAttention().contains(i) ? 2 : 1;
                yield switch (p[2]) {
                    case "resnets" -> j < per ? ldmResnet("output_blocks." + (base + j) + ".0.", r)
                            : null;
                    case "attentions" -> j < per ? "output_blocks." + (base + j) + ".1." + r : null;
                    case "upsamplers" -> j == 0 && r.startsWith("conv.")
                            ? "output_blocks." + (base + layout.layersPerBlock()) + "."
                                    + upsamplerSlot + "." + r : null;
                    default -> null;
                };
            }
            default -> null;
        };
        if (mapped == null || mapped.endsWith(".")) {
            throw new IllegalArgumentException("'" + name + "' fits no block of a UNet with "
                    + layout);
        }
        return UNET_PREFIX + mapped;
    }

    private static String resnet(String block, String r) {
        for (Map.Entry<String, String> e : UNET_RESNET.entrySet()) {
            if (r.startsWith(e.getKey() + ".")) {
                return block + e.getValue() + r.substring(e.getKey().length());
            }
        }
        return null;
    }

    private static String ldmResnet(String block, String r) {
        for (Map.Entry<String, String> e : UNET_RESNET.entrySet()) {
            if (r.startsWith(e.getValue() + ".")) {
                return block + e.getKey() + r.substring(e.getValue().length());
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- VAE

    /**
     * An LDM VAE name as a diffusers name.
     *
     * @param ldmName e.g. {@code first_stage_model.decoder.up.3.block.0.conv1.weight}
     * @param levels the number of resolution levels (4 for Stable Diffusion)
     * @return e.g. {@code decoder.up_blocks.0.resnets.0.conv1.weight}, or null if the name does
     *     not start with {@link #VAE_PREFIX}
     * @throws IllegalArgumentException if the name is under the prefix but fits no block
     */
    public static String vaeToDiffusers(String ldmName, int levels) {
        if (!ldmName.startsWith(VAE_PREFIX)) {
            return null;
        }
        String[] p = ldmName.substring(VAE_PREFIX.length()).split("\\.", -1);
        String mapped = null;
        if ((p[0].equals("quant_conv") || p[0].equals("post_quant_conv")) && p.length == 2) {
            mapped = String.join(".", p);
        } else if ((p[0].equals("encoder") || p[0].equals("decoder")) && p.length > 2) {
            String side = p[0] + ".";
            boolean encoder = p[0].equals("encoder");
            switch (p[1]) {
                case "conv_in", "conv_out" -> mapped = side + rest(p, 1);
                case "norm_out" -> mapped = side + "conv_norm_out." + rest(p, 2);
                case "down", "up" -> {
                    if (p[1].equals("down") != encoder || p.length < 5) {
                        break;
                    }
                    int i = index(p, 2);
                    if (i < 0 || i >= levels) {
                        break;
                    }
                    String block = side + (encoder ? "down_blocks." + i
                            : "up_blocks." + (levels - 1 - i)) + ".";
                    if (p[3].equals("block")) {
                        int j = index(p, 4);
                        String r = vaeResnet(rest(p, 5), false);
                        mapped = j < 0 || r == null ? null : block + "resnets." + j + "." + r;
                    } else if (p[3].equals(encoder ? "downsample" : "upsample")
                            && p[4].equals("conv")) {
                        mapped = block + (encoder ? "downsamplers" : "upsamplers") + ".0.conv."
                                + rest(p, 5);
                    }
                }
                case "mid" -> {
                    String r = rest(p, 3);
                    if (p[2].equals("block_1") || p[2].equals("block_2")) {
                        String inner = vaeResnet(r, false);
                        mapped = inner == null ? null : side + "mid_block.resnets."
                                + (p[2].equals("block_1") ? 0 : 1) + "." + inner;
                    } else if (p[2].equals("attn_1") && p.length > 4
                            && VAE_ATTENTION.containsKey(p[3])) {
                        mapped = side + "mid_block.attentions.0." + VAE_ATTENTION.get(p[3]) + "."
                                + rest(p, 4);
                    }
                }
                default -> mapped = null;
            }
        }
        if (mapped == null || mapped.endsWith(".")) {
            throw new IllegalArgumentException("'" + ldmName + "' fits no block of a VAE with "
                    + levels + " levels");
        }
        return mapped;
    }

    /**
     * A diffusers VAE name as an LDM name (the inverse of {@link #vaeToDiffusers}).
     *
     * @param name e.g. {@code encoder.mid_block.attentions.0.to_out.0.weight}
     * @param levels the number of resolution levels
     * @return e.g. {@code first_stage_model.encoder.mid.attn_1.proj_out.weight}
     * @throws IllegalArgumentException if the name fits no block
     */
    public static String vaeToLdm(String name, int levels) {
        String[] p = name.split("\\.", -1);
        String mapped = null;
        if ((p[0].equals("quant_conv") || p[0].equals("post_quant_conv")) && p.length == 2) {
            mapped = name;
        } else if ((p[0].equals("encoder") || p[0].equals("decoder")) && p.length > 2) {
            String side = p[0] + ".";
            boolean encoder = p[0].equals("encoder");
            switch (p[1]) {
                case "conv_in", "conv_out" -> mapped = name;
                case "conv_norm_out" -> mapped = side + "norm_out." + rest(p, 2);
                case "down_blocks", "up_blocks" -> {
                    if (p[1].equals("down_blocks") != encoder || p.length < 6) {
                        break;
                    }
                    int i = index(p, 2);
                    int j = index(p, 4);
                    if (i < 0 || i >= levels || j < 0) {
                        break;
                    }
                    String block = side + (encoder ? "down." + i : "up." + (levels - 1 - i)) + ".";
                    if (p[3].equals("resnets")) {
                        String r = vaeResnet(rest(p, 5), true);
                        mapped = r == null ? null : block + "block." + j + "." + r;
                    } else if (p[3].equals(encoder ? "downsamplers" : "upsamplers") && j == 0
                            && p[5].equals("conv")) {
                        mapped = block + (encoder ? "downsample" : "upsample") + ".conv."
                                + rest(p, 6);
                    }
                }
                case "mid_block" -> {
                    if (p.length < 5) {
                        break;
                    }
                    String kind = p[2] + "." + p[3];
                    if (kind.equals("resnets.0") || kind.equals("resnets.1")) {
                        String r = vaeResnet(rest(p, 4), true);
                        mapped = r == null ? null : side + "mid.block_"
                                + (kind.equals("resnets.0") ? 1 : 2) + "." + r;
                    } else if (kind.equals("attentions.0")) {
                        String r = rest(p, 4);
                        for (Map.Entry<String, String> e : VAE_ATTENTION.entrySet()) {
                            if (r.startsWith(e.getValue() + ".")) {
                                mapped = side + "mid.attn_1." + e.getKey()
                                        + r.substring(e.getValue().length());
                            }
                        }
                    }
                }
                default -> mapped = null;
            }
        }
        if (mapped == null || mapped.endsWith(".")) {
            throw new IllegalArgumentException("'" + name + "' fits no block of a VAE with "
                    + levels + " levels");
        }
        return VAE_PREFIX + mapped;
    }

    /**
     * The diffusers shape of an LDM VAE tensor: mid-block attention projections stored as 1×1
     * convolutions (C, C, 1, 1) become linear weights (C, C); every other shape is kept.
     *
     * @param diffusersName the tensor's diffusers name
     * @param stored its shape in the LDM file
     * @return the diffusers shape
     */
    public static Shape vaeShapeToDiffusers(String diffusersName, Shape stored) {
        if (stored.dimension() == 4 && stored.get(2) == 1 && stored.get(3) == 1
                && VAE_ATTN_WEIGHT.matcher(diffusersName).matches()) {
            return new Shape(stored.get(0), stored.get(1));
        }
        return stored;
    }

    /**
     * The LDM shape of a diffusers VAE tensor (the inverse of {@link #vaeShapeToDiffusers}).
     *
     * @param diffusersName the tensor's diffusers name
     * @param shape its diffusers shape
     * @return the shape an LDM file stores
     */
    public static Shape vaeShapeToLdm(String diffusersName, Shape shape) {
        if (shape.dimension() == 2 && VAE_ATTN_WEIGHT.matcher(diffusersName).matches()) {
            return new Shape(shape.get(0), shape.get(1), 1, 1);
        }
        return shape;
    }

    private static String vaeResnet(String r, boolean toLdm) {
        String from = toLdm ? "conv_shortcut" : "nin_shortcut";
        String to = toLdm ? "nin_shortcut" : "conv_shortcut";
        if (r.startsWith(from + ".")) {
            return to + r.substring(from.length());
        }
        for (String s : new String[] {"norm1.", "conv1.", "norm2.", "conv2."}) {
            if (r.startsWith(s)) {
                return r;
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- text encoder

    /**
     * An LDM text encoder name as a transformers CLIPTextModel name; older files without the
     * {@code text_model.} level get it added.
     *
     * @param ldmName e.g. {@code cond_stage_model.transformer.text_model.final_layer_norm.weight}
     * @return e.g. {@code text_model.final_layer_norm.weight}, or null if the name does not
     *     start with {@link #TEXT_ENCODER_PREFIX}
     */
    public static String textEncoderToDiffusers(String ldmName) {
        if (!ldmName.startsWith(TEXT_ENCODER_PREFIX)) {
            return null;
        }
        String r = ldmName.substring(TEXT_ENCODER_PREFIX.length());
        return r.startsWith("text_model.") ? r : "text_model." + r;
    }

    /**
     * A transformers CLIPTextModel name as an LDM name.
     *
     * @param name e.g. {@code text_model.encoder.layers.0.mlp.fc1.weight}
     * @return the name under {@link #TEXT_ENCODER_PREFIX}
     */
    public static String textEncoderToLdm(String name) {
        return TEXT_ENCODER_PREFIX + name;
    }

    // ---------------------------------------------------------------- mappings for loading

    /**
     * Loads a UNet from a single-file checkpoint: other components' tensors are skipped; a name
     * under the UNet prefix that fits no block is kept as is (and reported as unexpected).
     *
     * @param layout the UNet's structure
     * @return the mapping
     */
    public static KeyMapping unetMapping(UnetLayout layout) {
        return stored -> {
            try {
                return unetToDiffusers(stored, layout);
            } catch (IllegalArgumentException e) {
                return stored;
            }
        };
    }

    /**
     * Loads a VAE from a single-file checkpoint, reshaping the attention weights.
     *
     * @param levels the number of resolution levels
     * @return the mapping
     */
    public static KeyMapping vaeMapping(int levels) {
        return new KeyMapping() {
            @Override
            public String targetName(String stored) {
                try {
                    return vaeToDiffusers(stored, levels);
                } catch (IllegalArgumentException e) {
                    return stored;
                }
            }

            @Override
            public Shape targetShape(String stored, Shape storedShape) {
                String name = targetName(stored);
                return name == null ? storedShape : vaeShapeToDiffusers(name, storedShape);
            }
        };
    }

    /**
     * Loads a CLIP text encoder from a single-file checkpoint; the {@code position_ids} buffer
     * is skipped.
     *
     * @return the mapping
     */
    public static KeyMapping textEncoderMapping() {
        return textEncoderMapping(TEXT_ENCODER_PREFIX);
    }

    /**
     * Loads a transformers-named CLIP text encoder stored under another prefix (SDXL's {@code
     * conditioner.embedders.0.transformer.}); the {@code position_ids} buffer is skipped.
     *
     * @param prefix the encoder's prefix in the file, ending in a dot
     * @return the mapping; names outside the prefix are skipped
     */
    public static KeyMapping textEncoderMapping(String prefix) {
        return stored -> {
            if (!stored.startsWith(prefix)) {
                return null;
            }
            String r = stored.substring(prefix.length());
            String name = r.startsWith("text_model.") ? r : "text_model." + r;
            return POSITION_IDS.equals(name) ? null : name;
        };
    }

    private static String rest(String[] p, int from) {
        return from >= p.length ? "" : String.join(".", java.util.Arrays.copyOfRange(p, from,
                p.length));
    }

    private static int index(String[] p, int i) {
        if (i >= p.length || p[i].isEmpty() || p[i].length() > 6) {
            return -1;
        }
        for (int k = 0; k < p[i].length(); k++) {
            if (!Character.isDigit(p[i].charAt(k))) {
                return -1;
            }
        }
        return Integer.parseInt(p[i]);
    }
}
