package dev.jdiffusion.djl.lora;

import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.djl.weights.PickleGuard;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The layers of a LoRA file, recognised from its tensor names; the data stays in the file
 * (memory-mapped) until {@link LoraMerge} reads it.
 *
 * <p>Naming schemes understood:
 * <ul>
 *   <li>kohya / A1111: {@code lora_unet_<module>} and {@code lora_te_<module>} (SDXL: {@code
 *       lora_te1_} for {@code text_encoder}, {@code lora_te2_} for {@code text_encoder_2}),
 *       the module path with dots as underscores, in diffusers naming ({@code
 *       lora_unet_down_blocks_0_attentions_0_...}) or the original LDM naming ({@code
 *       lora_unet_input_blocks_1_1_...}); tensors {@code .lora_down.weight}, {@code
 *       .lora_up.weight} and an optional {@code .alpha};</li>
 *   <li>diffusers / PEFT: {@code unet.<module>}, {@code text_encoder.<module>} and {@code
 *       text_encoder_2.<module>} with {@code
 *       .lora_A.weight} / {@code .lora_B.weight}, or the older diffusers names {@code
 *       .lora.down.weight} / {@code .lora.up.weight}, {@code .lora_linear_layer.down/up.weight}
 *       and the attention-processor names {@code <attn>.processor.to_q_lora.down.weight} (also
 *       without the {@code unet.} prefix; for the text encoder {@code
 *       self_attn.to_q_lora.down.weight}), as diffusers' own kohya conversion writes them; an
 *       optional {@code <module>.alpha};</li>
 *   <li>LoCon / LyCORIS plain LoRA on convolutions: the same names, with a k×k convolution as
 *       down and a 1×1 convolution as up.</li>
 * </ul>
 * Refused with a {@link ModelLoadException}: pickle files, other LyCORIS kinds (LoHa, LoKr, Tucker {@code lora_mid}, DoRA), a layer
 * without its down or up tensor, a layer given twice, and tensor names that fit no scheme.
 *
 * <p>Not thread-safe to close while in use; reading from several threads is safe.
 */
public final class LoraFile implements AutoCloseable {

    /** Which network a layer patches. */
    public enum Part {
        /** The denoising UNet. */
        UNET,
        /** The (first) CLIP text encoder. */
        TEXT_ENCODER,
        /** SDXL's second text encoder, {@code text_encoder_2}. */
        TEXT_ENCODER_2
    }

    /**
     * One low-rank pair: {@code W' = W + s · up · down}.
     *
     * @param part the network it patches
     * @param module the module's name as the file gives it, without prefix: dotted ({@code
     *     down_blocks.0.attentions.0.proj_in}) when {@code dotted}, else kohya's underscore form
     * @param dotted whether {@code module} is a dotted path
     * @param downKey the tensor name of the down (A) matrix, (rank, in[, kh, kw])
     * @param upKey the tensor name of the up (B) matrix, (out, rank[, 1, 1])
     * @param alphaKey the tensor name of alpha, or null (then alpha = rank)
     */
    public record Layer(Part part, String module, boolean dotted, String downKey, String upKey,
            String alphaKey) {}

    private final SafetensorsFile file;
    private final List<Layer> layers;

    private LoraFile(SafetensorsFile file, List<Layer> layers) {
        this.file = file;
        this.layers = List.copyOf(layers);
    }

    /**
     * Opens a LoRA file and recognises its layers.
     *
     * @param path a {@code .safetensors} LoRA
     * @return the opened file; close it when done
     * @throws ModelLoadException if the file is a pickle, unreadable, or not a supported LoRA
     *     (the message names the offending tensors)
     */
    public static LoraFile open(Path path) throws ModelLoadException {
        PickleGuard.refusePickle(path);
        SafetensorsFile file = SafetensorsFile.open(path);
        try {
            return new LoraFile(file, parse(path, file.tensors()));
        } catch (ModelLoadException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** Roles of a tensor inside a layer. */
    private enum Role { DOWN, UP, ALPHA }

    private record Key(String prefix, String module, Role role) {}

    private static final String[][] SUFFIXES = {
        {".lora_down.weight", "DOWN"}, {".lora_up.weight", "UP"},
        {".lora_A.weight", "DOWN"}, {".lora_B.weight", "UP"},
        {".lora.down.weight", "DOWN"}, {".lora.up.weight", "UP"},
        {".lora_linear_layer.down.weight", "DOWN"}, {".lora_linear_layer.up.weight", "UP"},
        {"_lora.down.weight", "DOWN"}, {"_lora.up.weight", "UP"},
        {".alpha", "ALPHA"},
    };

    private static final String[] UNSUPPORTED = {"hada_", "lokr_", ".lora_mid.", "dora_scale",
        ".diff", ".w_norm", ".b_norm"};

    static List<Layer> parse(Path path, Map<String, TensorInfo> tensors)
            throws ModelLoadException {
        List<String> unsupported = new ArrayList<>();
        List<String> unknown = new ArrayList<>();
        Map<String, Map<Role, String>> groups = new LinkedHashMap<>();
        Map<String, Key> keys = new LinkedHashMap<>();
        for (String name : tensors.keySet()) {
            String kind = unsupportedKind(name);
            if (kind != null) {
                unsupported.add(name + " (" + kind + ")");
                continue;
            }
            Key k = key(name);
            if (k == null) {
                unknown.add(name);
                continue;
            }
            String id = k.prefix() + k.module();
            String previous = groups.computeIfAbsent(id, x -> new LinkedHashMap<>())
                    .putIfAbsent(k.role(), name);
            if (previous != null) {
                unknown.add(name + " (its layer's " + k.role().name().toLowerCase(Locale.ROOT)
                        + " is already given by " + previous + ")");
            }
            keys.putIfAbsent(id, k);
        }
        if (!unsupported.isEmpty()) {
            throw new ModelLoadException(path + ": " + unsupported.size() + " tensors of a"
                    + " LyCORIS kind other than plain LoRA/LoCon, which is not supported: "
                    + listed(unsupported));
        }
        List<Layer> layers = new ArrayList<>();
        List<String> incomplete = new ArrayList<>();
        for (Map.Entry<String, Map<Role, String>> e : groups.entrySet()) {
            Key k = keys.get(e.getKey());
            Map<Role, String> roles = e.getValue();
            if (!roles.containsKey(Role.DOWN) || !roles.containsKey(Role.UP)) {
                incomplete.add(e.getKey() + " (has " + roles.values() + ")");
                continue;
            }
            Part part = switch (k.prefix()) {
                case "lora_te_", "lora_te1_", "text_encoder." -> Part.TEXT_ENCODER;
                case "lora_te2_", "text_encoder_2." -> Part.TEXT_ENCODER_2;
                default -> Part.UNET;
            };
            boolean dotted = !k.prefix().startsWith("lora_");
            layers.add(new Layer(part, k.module(), dotted, roles.get(Role.DOWN),
                    roles.get(Role.UP), roles.get(Role.ALPHA)));
        }
        List<String> problems = new ArrayList<>();
        if (!unknown.isEmpty()) {
            problems.add(unknown.size() + " tensor names fit no LoRA naming scheme: "
                    + listed(unknown));
        }
        if (!incomplete.isEmpty()) {
            problems.add(incomplete.size() + " layers lack their down or up tensor: "
                    + listed(incomplete));
        }
        if (!problems.isEmpty()) {
            throw new ModelLoadException(path + ": not a LoRA file this library reads: "
                    + String.join("; ", problems));
        }
        if (layers.isEmpty()) {
            throw new ModelLoadException(path + ": holds no LoRA layers");
        }
        return layers;
    }

    private static String unsupportedKind(String name) {
        for (String marker : UNSUPPORTED) {
            if (name.contains(marker)) {
                return switch (marker) {
                    case "hada_" -> "LoHa";
                    case "lokr_" -> "LoKr";
                    case ".lora_mid." -> "Tucker-decomposed LoCon";
                    case "dora_scale" -> "DoRA";
                    default -> "full or norm difference";
                };
            }
        }
        return null;
    }

    /** The prefix, module and role of a tensor name, or null if it fits no scheme. */
    private static Key key(String name) {
        for (String[] s : SUFFIXES) {
            if (!name.endsWith(s[0])) {
                continue;
            }
            Role role = Role.valueOf(s[1]);
            String module = name.substring(0, name.length() - s[0].length());
            String prefix;
            if (module.startsWith("lora_unet_")) {
                prefix = "lora_unet_";
            } else if (module.startsWith("lora_te_")) {
                prefix = "lora_te_";
            } else if (module.startsWith("lora_te1_")) {
                prefix = "lora_te1_";
            } else if (module.startsWith("lora_te2_")) {
                prefix = "lora_te2_";
            } else if (module.startsWith("text_encoder_2.")) {
                prefix = "text_encoder_2.";
            } else if (module.startsWith("unet.")) {
                prefix = "unet.";
            } else if (module.startsWith("text_encoder.")) {
                prefix = "text_encoder.";
            } else if (module.contains(".") && !module.startsWith("lora_")) {
                prefix = ""; // older diffusers files: bare UNet module paths
            } else {
                return null;
            }
            module = module.substring(prefix.length());
            if (s[0].startsWith("_lora.") && prefix.startsWith("text_encoder")) {
                // older diffusers text encoder names: self_attn.to_q_lora → self_attn.q_proj
                int dot = module.lastIndexOf('.');
                String proj = module.substring(dot + 1);
                String mapped = switch (proj) {
                    case "to_q" -> "q_proj";
                    case "to_k" -> "k_proj";
                    case "to_v" -> "v_proj";
                    case "to_out" -> "out_proj";
                    default -> null;
                };
                if (mapped == null || dot < 0) {
                    return null;
                }
                module = module.substring(0, dot + 1) + mapped;
            } else if (s[0].startsWith("_lora.")) {
                // attention processors: <attn>.processor.to_q_lora → <attn>.to_q
                int proc = module.lastIndexOf(".processor.");
                if (proc < 0) {
                    return null;
                }
                String proj = module.substring(proc + ".processor.".length());
                module = module.substring(0, proc) + "."
                        + (proj.equals("to_out") ? "to_out.0" : proj);
            } else if (role == Role.ALPHA && prefix.endsWith(".")) {
                module = stripOld(module);
            }
            if (module.isEmpty()) {
                return null;
            }
            return new Key(prefix, module, role);
        }
        return null;
    }

    /** A diffusers alpha may sit beside the old {@code .lora} sub-module names. */
    private static String stripOld(String module) {
        for (String tail : new String[] {".lora_linear_layer", ".lora"}) {
            if (module.endsWith(tail)) {
                return module.substring(0, module.length() - tail.length());
            }
        }
        return module;
    }

    static String listed(List<String> items) {
        int n = Math.min(5, items.size());
        String head = String.join(", ", items.subList(0, n));
        return items.size() > n ? head + ", ... (" + (items.size() - n) + " more)" : head;
    }

    /**
     * The file's path.
     *
     * @return the path
     */
    public Path path() {
        return file.path();
    }

    /**
     * The layers, in file order.
     *
     * @return the low-rank pairs
     */
    public List<Layer> layers() {
        return layers;
    }

    /**
     * The string metadata of the file's header.
     *
     * @return the {@code __metadata__} entries (may be empty)
     */
    public Map<String, String> metadata() {
        return file.metadata();
    }

    /** The underlying file, for {@link LoraMerge}. */
    SafetensorsFile safetensors() {
        return file;
    }

    /** Releases the memory mapping. */
    @Override
    public void close() {
        file.close();
    }
}
