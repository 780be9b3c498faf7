package dev.jdiffusion.examples.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.GeneratedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Turns the npm package {@code emoji-datasource-google} (Noto Emoji PNGs, 64×64, with {@code
 * emoji.json}) into the image + caption folder the trainer reads: {@code NNNN.png} composited on
 * white and {@code NNNN.txt} holding one caption built from the emoji's Unicode name, short
 * names, category and subcategory (plus the skin tone for skin variations).
 */
public final class EmojiDataPrep {

    private static final Map<String, String> SKIN_TONES = Map.of(
            "1F3FB", "light skin tone",
            "1F3FC", "medium-light skin tone",
            "1F3FD", "medium skin tone",
            "1F3FE", "medium-dark skin tone",
            "1F3FF", "dark skin tone");

    private EmojiDataPrep() {}

    /** One training example: the image file in the package and its caption. */
    record Entry(String image, String caption) {}

    /**
     * Reads {@code emoji.json} and lists every emoji that has a Google image.
     *
     * @param packageDir the extracted npm package ({@code package/})
     * @return the entries in the order of {@code emoji.json}
     * @throws IOException if {@code emoji.json} is missing or malformed
     */
    static List<Entry> entries(Path packageDir) throws IOException {
        Path json = packageDir.resolve("emoji.json");
        if (!Files.isRegularFile(json)) {
            throw new IOException("emoji.json not found in " + packageDir
                    + "; pass the extracted emoji-datasource-google package folder");
        }
        JsonNode root = new ObjectMapper().readTree(json.toFile());
        List<Entry> out = new ArrayList<>();
        for (JsonNode e : root) {
            String base = baseCaption(e);
            if (e.path("has_img_google").asBoolean()) {
                out.add(new Entry(e.path("image").asText(), base));
            }
            JsonNode skins = e.path("skin_variations");
            for (Iterator<Map.Entry<String, JsonNode>> it = skins.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> v = it.next();
                if (v.getValue().path("has_img_google").asBoolean()) {
                    out.add(new Entry(v.getValue().path("image").asText(),
                            withSkinTone(base, v.getKey())));
                }
            }
        }
        return out;
    }

    static String baseCaption(JsonNode e) {
        Set<String> parts = new LinkedHashSet<>();
        String name = e.path("name").asText("").toLowerCase(Locale.ROOT).trim();
        if (!name.isEmpty()) {
            parts.add(name);
        }
        for (JsonNode s : e.path("short_names")) {
            String sn = s.asText().replace('_', ' ').replace('-', ' ').trim();
            if (!sn.isEmpty()) {
                parts.add(sn);
            }
        }
        String category = e.path("category").asText("").toLowerCase(Locale.ROOT);
        String sub = e.path("subcategory").asText("").replace('-', ' ');
        return String.join(", ", parts) + " (" + category + ", " + sub + ")";
    }

    static String withSkinTone(String base, String key) {
        List<String> tones = new ArrayList<>();
        for (String k : key.split("-")) {
            String tone = SKIN_TONES.get(k.toUpperCase(Locale.ROOT));
            if (tone != null && !tones.contains(tone)) {
                tones.add(tone);
            }
        }
        return tones.isEmpty() ? base : base + ", " + String.join(" and ", tones);
    }

    /**
     * Writes the training folder.
     *
     * @param packageDir the extracted npm package
     * @param outDir the folder to write {@code NNNN.png} and {@code NNNN.txt} into
     * @return the number of examples written
     * @throws IOException if reading or writing fails
     */
    public static int prepare(Path packageDir, Path outDir) throws IOException {
        Path images = packageDir.resolve("img/google/64");
        if (!Files.isDirectory(images)) {
            throw new IOException("img/google/64 not found in " + packageDir);
        }
        Files.createDirectories(outDir);
        int n = 0;
        for (Entry e : entries(packageDir)) {
            Path src = images.resolve(e.image());
            if (!Files.isRegularFile(src)) {
                throw new IOException("emoji.json lists " + e.image() + " but it is missing");
            }
            GeneratedImage img = GeneratedImage.read(src); // composited on white
            String stem = String.format(Locale.ROOT, "%04d", n);
            img.writePng(outDir.resolve(stem + ".png"));
            Files.writeString(outDir.resolve(stem + ".txt"), e.caption() + "\n",
                    StandardCharsets.UTF_8);
            n++;
        }
        return n;
    }

    /**
     * Command-line entry: {@code EmojiDataPrep PACKAGE_DIR OUT_DIR}.
     *
     * @param args the two folders
     * @throws IOException if preparation fails
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: EmojiDataPrep PACKAGE_DIR OUT_DIR");
            System.exit(2);
        }
        int n = prepare(Path.of(args[0]), Path.of(args[1]));
        System.out.println("wrote " + n + " images with captions to " + args[1]);
    }
}
