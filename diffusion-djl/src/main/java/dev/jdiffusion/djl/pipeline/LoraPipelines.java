package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.lora.Lora;
import dev.jdiffusion.djl.lora.LoraFile;
import dev.jdiffusion.djl.lora.LoraHashes;
import dev.jdiffusion.djl.lora.LoraMerge;
import dev.jdiffusion.djl.lora.LoraTags;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.text.ClipConditioner;
import dev.jdiffusion.djl.text.SdxlConditioner;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Builds the derived pipelines of {@link DiffusionPipeline#withLoras}. */
final class LoraPipelines {

    private static final Logger LOG = LoggerFactory.getLogger(LoraPipelines.class);

    private LoraPipelines() {}

    /**
     * The LoRAs of a derived pipeline and how its images record them.
     *
     * @param result what was merged
     * @param hashes LoRA name → A1111 short hash, in order
     */
    record Applied(LoraMerge.Result result, Map<String, String> hashes) {

        /** The prompt as recorded: tags added for the LoRAs the prompt does not tag itself. */
        String recordedPrompt(String prompt) {
            Set<String> tagged = LoraTags.parse(prompt).tags().stream().map(LoraTags.Tag::name)
                    .collect(Collectors.toSet());
            StringBuilder sb = new StringBuilder(prompt);
            for (Map.Entry<String, Double> e : weightsByName(result.loras()).entrySet()) {
                if (!tagged.contains(e.getKey())) {
                    sb.append(sb.length() == 0 ? "" : " ")
                            .append(new LoraTags.Tag(e.getKey(), e.getValue()).text());
                }
            }
            return sb.toString();
        }

        /**
         * The prompt without its {@code <lora:name:weight>} tags, which must name this
         * pipeline's LoRAs with their weights.
         *
         * @throws IllegalArgumentException for a tag of another LoRA or another weight
         */
        String stripTags(String prompt) {
            LoraTags.Parsed parsed = LoraTags.parse(prompt);
            Map<String, Double> tagged = new HashMap<>();
            for (LoraTags.Tag t : parsed.tags()) {
                tagged.merge(t.name(), t.weight(), Double::sum);
            }
            Map<String, Double> weights = weightsByName(result.loras());
            for (Map.Entry<String, Double> t : tagged.entrySet()) {
                Double w = weights.get(t.getKey());
                if (w == null || Math.abs(w - t.getValue()) > 1e-9) {
                    throw new IllegalArgumentException("prompt: its tags give LoRA '"
                            + t.getKey() + "' weight " + t.getValue() + " but this pipeline"
                            + " has " + (w == null ? "no such LoRA" : "weight " + w)
                            + " (its LoRAs: " + weights + "); apply the LoRAs a prompt tags"
                            + " with withLoras, see LoraTags");
                }
            }
            return parsed.text();
        }

        /** A1111's {@code Lora hashes} entry: {@code name: hash, ...}. */
        Map<String, String> settings() {
            String joined = hashes.entrySet().stream()
                    .map(e -> e.getKey().replace(":", "").replace(",", "") + ": " + e.getValue())
                    .collect(Collectors.joining(", "));
            return Map.of("Lora hashes", joined);
        }
    }

    /** The weight of each LoRA name, summed over repeats, in order of first appearance. */
    static Map<String, Double> weightsByName(List<Lora> loras) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Lora l : loras) {
            out.merge(l.name(), l.weight(), Double::sum);
        }
        return out;
    }

    static DiffusionPipeline derive(DiffusionPipeline base, NDManager baseManager,
            NoiseNetwork network, Conditioner conditioner, List<Lora> loras)
            throws ModelLoadException {
        if (!(network instanceof UNetNetwork unet)) {
            throw new IllegalStateException("this pipeline's network takes no LoRAs");
        }
        ClipConditioner clip = conditioner instanceof ClipConditioner c ? c : null;
        SdxlConditioner sdxl = conditioner instanceof SdxlConditioner x ? x : null;
        long start = System.nanoTime();
        Map<String, String> hashes = new LinkedHashMap<>();
        for (Lora l : loras) {
            try (LoraFile f = LoraFile.open(l.file())) {
                hashes.putIfAbsent(l.name(), LoraHashes.shortHash(l.file(), f.metadata()));
            }
        }
        NDManager own = baseManager.newSubManager();
        try {
            Map<String, Parameter> text1 = clip != null ? ParameterNames.of(clip.model())
                    : sdxl != null && !sdxl.isRefiner() ? ParameterNames.of(sdxl.textEncoder())
                    : null;
            Map<String, Parameter> text2 = sdxl != null ? ParameterNames.of(sdxl.textEncoder2())
                    : null;
            LoraMerge.Result r = LoraMerge.compute(loras, ParameterNames.of(unet.unet()), text1,
                    text2, own);
            LOG.info("LoRAs {}: patched {} UNet and {} text encoder weights in {} ms",
                    loras.stream().map(l -> l.name() + ":" + l.weight()).toList(),
                    r.unetLayers(), r.textEncoderLayers(),
                    (System.nanoTime() - start) / 1_000_000);
            Conditioner cond = clip != null ? clip.withWeightOverlay(r.textEncoder())
                    : sdxl != null ? sdxl.withWeightOverlays(r.textEncoder(), r.textEncoder2())
                    : conditioner;
            return new DiffusionPipeline(base, own, unet.withOverlay(r.unet()), cond,
                    new Applied(r, hashes));
        } catch (ModelLoadException | RuntimeException e) {
            own.close();
            throw e;
        }
    }
}
