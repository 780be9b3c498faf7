package dev.jdiffusion.examples.cli;

import dev.jdiffusion.djl.lora.Lora;
import dev.jdiffusion.djl.lora.LoraTags;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The LoRAs of a {@code generate} run: {@code --lora path[:weight]} options and {@code
 * <lora:name:weight>} prompt tags, resolved as {@code name.safetensors} in {@code --lora-dir}.
 */
final class LoraOptions {

    private LoraOptions() {}

    /**
     * Parses {@code path[:weight]}; a last {@code :number} is the weight (so paths with colons
     * still work), default 1.
     */
    static Lora parseSpec(String spec) {
        int colon = spec.lastIndexOf(':');
        if (colon > 0) {
            String tail = spec.substring(colon + 1);
            try {
                double w = Double.parseDouble(tail);
                if (!Double.isFinite(w)) {
                    throw new IllegalArgumentException("--lora " + spec + ": the weight '" + tail
                            + "' is not a finite number");
                }
                return Lora.of(Path.of(spec.substring(0, colon)), w);
            } catch (NumberFormatException e) {
                // not a weight: the colon belongs to the path
            }
        }
        return Lora.of(Path.of(spec), 1.0);
    }

    /**
     * All LoRAs of a run: the prompt's tags first (from {@code loraDir}), then the {@code --lora}
     * files whose names the prompt does not tag.
     *
     * @throws IllegalArgumentException with a message for the user
     */
    static List<Lora> resolve(String prompt, List<String> specs, Path loraDir) {
        Map<String, Lora> byName = new LinkedHashMap<>();
        List<Lora> out = new ArrayList<>();
        for (LoraTags.Tag t : LoraTags.parse(prompt).tags()) {
            if (loraDir == null) {
                throw new IllegalArgumentException("the prompt tags " + t.text()
                        + ": give --lora-dir DIR with " + t.name() + ".safetensors in it");
            }
            Path file = loraDir.resolve(t.name() + ".safetensors");
            if (!file.normalize().startsWith(loraDir.normalize())) {
                throw new IllegalArgumentException("the prompt tag " + t.text()
                        + " names a file outside --lora-dir");
            }
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("the prompt tags " + t.text() + " but "
                        + file + " does not exist");
            }
            Lora l = new Lora(file, t.weight(), t.name());
            byName.putIfAbsent(t.name(), l);
            out.add(l);
        }
        for (String spec : specs) {
            Lora l = parseSpec(spec);
            if (!Files.isRegularFile(l.file())) {
                throw new IllegalArgumentException("--lora " + spec + ": file not found: "
                        + l.file());
            }
            Lora tagged = byName.get(l.name());
            if (tagged != null) {
                if (tagged.weight() != l.weight()) {
                    throw new IllegalArgumentException("--lora " + spec + " gives '" + l.name()
                            + "' weight " + l.weight() + " but the prompt tags it with "
                            + tagged.weight() + "; give it once");
                }
                continue;
            }
            byName.put(l.name(), l);
            out.add(l);
        }
        return out;
    }
}
