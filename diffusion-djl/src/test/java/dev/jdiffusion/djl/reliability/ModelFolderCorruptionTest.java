package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.djl.reliability.RawSafetensors.Tensor;
import dev.jdiffusion.djl.testing.Fifos;
import dev.jdiffusion.djl.testing.Rss;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Generated corruptions of a tiny, valid diffusers model folder, loaded through {@code
 * DiffusionPipeline.load}: every case must end in a {@code ModelLoadException} whose message
 * names the file (or, where a case may legitimately still be a valid model, load and generate
 * an image) — never another exception, an error, a JVM abort or a hang, and never by reading a
 * file outside the model folder. Seeded: the same cases every run.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ModelFolderCorruptionTest {

    /**
     * Multiplies the number of random cases (system property {@code jdiffusion.reliability.scale},
     * default 1: the suite then runs in about a minute on two cores).
     */
    static final int SCALE = Integer.getInteger("jdiffusion.reliability.scale", 1);

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static Path work;
    private static int counter;

    @BeforeAll
    static void build() {
        TinyModel.folder();
        work = TinyModel.scratch("folder-cases-");
        // The pristine model must load and generate, or every refusal below proves nothing.
        LoadOutcome o = LoadOutcome.attempt(TinyModel.folder(), true);
        assertThat(o.kind()).as(o.toString()).isEqualTo(LoadOutcome.Kind.LOADED);
    }

    @AfterAll
    static void clean() {
        TinyModel.deleteTree(work);
    }

    /** Makes a variant, applies a change, loads it, and deletes it. */
    private static LoadOutcome load(Consumer<Path> change, boolean generate) {
        Path dir = TinyModel.variant(work.resolve("m" + counter++));
        try {
            change.accept(dir);
            return LoadOutcome.attempt(dir, generate);
        } finally {
            TinyModel.deleteTree(dir);
        }
    }

    private static String component(String weightFile) {
        return weightFile.substring(0, weightFile.indexOf('/'));
    }

    @Test
    void truncatedWeightFiles() {
        CaseLog log = new CaseLog("weights truncated");
        Random rnd = new Random(81);
        for (String wf : TinyModel.WEIGHT_FILES) {
            byte[] orig = TinyModel.original(wf);
            List<Integer> cuts = new ArrayList<>(List.of(0, 1, 7, 8, 9, 16, orig.length - 1,
                    orig.length - 4));
            int header = 8 + (int) java.nio.ByteBuffer.wrap(orig)
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0);
            cuts.add(header - 1);
            cuts.add(header);
            cuts.add(header + 1);
            for (int i = 0; i < 6 * SCALE; i++) {
                cuts.add(rnd.nextInt(orig.length));
            }
            for (int cut : cuts) {
                byte[] b = Arrays.copyOf(orig, cut);
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(wf), b), false);
                log.mustRefuse(wf + " cut at " + cut, o, component(wf), "safetensors");
            }
        }
        log.assertClean();
    }

    @Test
    void mutatedWeightHeaders() {
        CaseLog log = new CaseLog("weights header bytes");
        Random rnd = new Random(82);
        byte[] interesting = {0, '"', '{', '}', '[', ']', ',', ':', '-', '9', '0', 'e', '.',
            (byte) 0xFF, (byte) 0x80, '\\', 'F', 'I'};
        for (String wf : TinyModel.WEIGHT_FILES) {
            byte[] orig = TinyModel.original(wf);
            int header = 8 + (int) java.nio.ByteBuffer.wrap(orig)
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0);
            for (int i = 0; i < 40 * SCALE; i++) {
                byte[] b = orig.clone();
                int mutations = 1 + rnd.nextInt(3);
                StringBuilder what = new StringBuilder();
                for (int k = 0; k < mutations; k++) {
                    int at = rnd.nextInt(header);
                    byte v = rnd.nextBoolean() ? interesting[rnd.nextInt(interesting.length)]
                            : (byte) rnd.nextInt(256);
                    b[at] = v;
                    what.append(' ').append(at).append('=').append(v & 0xFF);
                }
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(wf), b), false);
                // A mutation of padding or metadata may leave a valid file.
                log.refuseOrWork(wf + what, o, component(wf));
            }
        }
        log.assertClean();
    }

    @Test
    void nonFiniteWeights() {
        CaseLog log = new CaseLog("weights NaN/Inf");
        Random rnd = new Random(83);
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        for (String wf : TinyModel.WEIGHT_FILES) {
            RawSafetensors orig = RawSafetensors.parse(TinyModel.original(wf));
            List<String> names = orig.names();
            for (int i = 0; i < 15 * SCALE; i++) {
                String name = names.get(rnd.nextInt(names.size()));
                RawSafetensors f = orig.copy();
                Tensor t = f.tensors.get(name);
                float[] v = RawSafetensors.floats(t);
                v[rnd.nextInt(v.length)] = bad[i % 3];
                t.data = RawSafetensors.f32(v);
                byte[] b = f.bytes();
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(wf), b), false);
                log.mustRefuse(wf + " " + name + " " + bad[i % 3], o, name, component(wf));
            }
        }
        log.assertClean();
    }

    @Test
    void missingExtraAndRenamedTensors() {
        CaseLog log = new CaseLog("tensors missing/extra");
        Random rnd = new Random(84);
        for (String wf : TinyModel.WEIGHT_FILES) {
            RawSafetensors orig = RawSafetensors.parse(TinyModel.original(wf));
            List<String> names = orig.names();
            List<String> shuffled = new ArrayList<>(names);
            Collections.shuffle(shuffled, rnd);
            for (String name : shuffled.subList(0, Math.min(names.size(), 25 * SCALE))) {
                RawSafetensors f = orig.copy();
                f.tensors.remove(name);
                byte[] b = f.bytes();
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(wf), b), false);
                log.mustRefuse(wf + " without " + name, o, "missing", name);
            }
            for (int i = 0; i < 4 * SCALE; i++) { // an extra tensor
                RawSafetensors f = orig.copy();
                String extra = names.get(rnd.nextInt(names.size())) + ".extra" + i;
                f.tensors.put(extra, new Tensor("F32", new long[] {2}, new byte[8]));
                byte[] b = f.bytes();
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(wf), b), false);
                log.mustRefuse(wf + " with " + extra, o, "unexpected", extra);
            }
            for (int i = 0; i < 4 * SCALE; i++) { // a renamed tensor
                RawSafetensors f = orig.copy();
                String name = names.get(rnd.nextInt(names.size()));
                String renamed = name.replace('.', i % 2 == 0 ? '_' : '/');
                List<String> order = new ArrayList<>(f.tensors.keySet());
                Tensor t = f.tensors.remove(name);
                RawSafetensors g = new RawSafetensors();
                for (String n : order) {
                    g.tensors.put(n.equals(name) ? renamed : n,
                            n.equals(name) ? t : f.tensors.get(n));
                }
                byte[] b = g.bytes();
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(wf), b), false);
                log.mustRefuse(wf + " renamed " + name, o, "missing", name);
            }
        }
        log.assertClean();
    }

    @Test
    void wrongShapesAndTypes() {
        CaseLog log = new CaseLog("tensors shape/dtype");
        Random rnd = new Random(85);
        for (String wf : TinyModel.WEIGHT_FILES) {
            RawSafetensors orig = RawSafetensors.parse(TinyModel.original(wf));
            List<String> names = orig.names();
            for (int i = 0; i < 15 * SCALE; i++) {
                String name = names.get(rnd.nextInt(names.size()));
                RawSafetensors f = orig.copy();
                Tensor t = f.tensors.get(name);
                long[] s = t.shape;
                String how;
                switch (i % 5) {
                    case 0 -> { // one more element in the last dimension
                        s[s.length - 1]++;
                        t.data = Arrays.copyOf(t.data, t.data.length + rowExtra(s));
                        how = "longer last dim";
                    }
                    case 1 -> { // an extra leading dimension of 1
                        long[] n = new long[s.length + 1];
                        n[0] = 1;
                        System.arraycopy(s, 0, n, 1, s.length);
                        t.shape = n;
                        how = "extra dim";
                    }
                    case 2 -> { // dimensions reversed (same element count)
                        long[] n = s.clone();
                        for (int k = 0; k < n.length / 2; k++) {
                            long x = n[k];
                            n[k] = n[n.length - 1 - k];
                            n[n.length - 1 - k] = x;
                        }
                        if (Arrays.equals(n, s)) {
                            n = new long[] {1, product(s, false)};
                        }
                        t.shape = n;
                        how = "reversed dims " + Arrays.toString(n);
                    }
                    case 3 -> { // same bytes as a 32-bit integer tensor
                        t.dtype = "I32";
                        how = "I32";
                    }
                    default -> { // a byte tensor of the same size
                        t.dtype = rnd.nextBoolean() ? "U8" : "BOOL";
                        t.shape = new long[] {t.data.length};
                        how = t.dtype;
                    }
                }
                byte[] b = f.bytes();
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(wf), b), false);
                log.mustRefuse(wf + " " + name + " " + how, o, name);
            }
        }
        log.assertClean();
    }

    private static long product(long[] s, boolean allButLast) {
        long p = 1;
        for (int i = 0; i < s.length - (allButLast ? 1 : 0); i++) {
            p *= s[i];
        }
        return p;
    }

    /** Bytes to add when the last dimension grew by one: one float per leading row. */
    private static int rowExtra(long[] grown) {
        return 4 * (int) product(grown, true);
    }

    // ---------------------------------------------------------------- JSON files

    /** The JSON files of the folder and whether the model needs them. */
    private static final List<String> JSON_FILES = List.of("model_index.json",
            "unet/config.json", "vae/config.json", "text_encoder/config.json",
            "scheduler/scheduler_config.json", "jdiffusion.json");

    private static List<JsonNode> badValues() {
        List<JsonNode> v = new ArrayList<>();
        v.add(F.nullNode());
        v.add(F.textNode("abc"));
        v.add(F.textNode(""));
        v.add(F.booleanNode(true));
        v.add(F.arrayNode());
        v.add(F.objectNode());
        v.add(F.numberNode(-1));
        v.add(F.numberNode(0));
        v.add(F.numberNode(1.5));
        v.add(F.numberNode(1_000_000_000));
        v.add(F.numberNode(2_147_483_648L));
        v.add(F.numberNode(1e12));
        v.add(F.numberNode(-1e308));
        v.add(F.arrayNode().add(1_000_000_000));
        v.add(F.arrayNode().add(-1).add(-1));
        v.add(F.arrayNode().add("../outside").add("/etc/passwd"));
        return v;
    }

    @Test
    void configFieldsWithWrongTypesAndValues() {
        CaseLog log = new CaseLog("config fields");
        Random rnd = new Random(87);
        for (String jf : JSON_FILES) {
            ObjectNode orig = (ObjectNode) readTree(TinyModel.original(jf));
            List<String> fields = new ArrayList<>();
            orig.fieldNames().forEachRemaining(fields::add);
            for (String field : fields) {
                List<JsonNode> values = new ArrayList<>(badValues());
                Collections.shuffle(values, rnd);
                values = new ArrayList<>(values.subList(0, Math.min(values.size(), 2 * SCALE)));
                values.add(null); // field removed
                for (JsonNode value : values) {
                    ObjectNode n = orig.deepCopy();
                    if (value == null) {
                        n.remove(field);
                    } else {
                        n.set(field, value);
                    }
                    byte[] b = bytes(n);
                    LoadOutcome o = load(d -> TinyModel.replace(d.resolve(jf), b), true);
                    log.refuseOrWork(jf + " " + field + "=" + value, o,
                            jf.contains("/") ? jf.substring(0, jf.indexOf('/')) : jf);
                }
            }
        }
        log.assertClean();
    }

    @Test
    void configFilesThatAreNotJsonObjects() {
        CaseLog log = new CaseLog("config files not objects");
        List<String> files = new ArrayList<>(JSON_FILES);
        files.add("tokenizer/vocab.json");
        StringBuilder deep = new StringBuilder();
        for (int i = 0; i < 100_000; i++) {
            deep.append('[');
        }
        List<byte[]> contents = new ArrayList<>(List.of(new byte[0], utf8("{"), utf8("}"),
                utf8("[]"), utf8("42"), utf8("\"text\""), utf8("null"), utf8("true"),
                utf8("{\"a\": }"), utf8("{'single': 'quotes'}"), utf8(deep.toString()),
                utf8("{\"a\": " + "9".repeat(5000) + "}"), utf8("{\"a\": 1} trailing"),
                new byte[] {(byte) 0xFE, (byte) 0xFF, 0, '{', 0, '}'},
                new byte[] {0, 0, 0, 0}, utf8("\u0000{}")));
        Random rnd = new Random(86);
        for (int i = 0; i < 4; i++) {
            byte[] junk = new byte[1 + rnd.nextInt(300)];
            rnd.nextBytes(junk);
            contents.add(junk);
        }
        for (String jf : files) {
            List<byte[]> sample = new ArrayList<>(contents);
            Collections.shuffle(sample, rnd);
            for (byte[] c : sample.subList(0, Math.min(sample.size(), 8 * SCALE))) {
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(jf), c), false);
                String shown = new String(c, 0, Math.min(c.length, 12), StandardCharsets.UTF_8);
                log.mustRefuse(jf + " = '" + shown + "'", o, jf.substring(jf.lastIndexOf('/')
                        + 1));
            }
        }
        log.assertClean();
    }

    @Test
    void absurdSizesAreRefusedBeforeAllocating() {
        CaseLog log = new CaseLog("absurd sizes");
        Object[][] cases = {
            {"unet/config.json", "block_out_channels", arr(1_000_000_000, 1_000_000_000)},
            {"unet/config.json", "block_out_channels", arr(8192, 8192, 8192, 8192, 8192, 8192,
                8192, 8192)},
            {"unet/config.json", "layers_per_block", F.numberNode(1_000_000)},
            {"unet/config.json", "layers_per_block", F.numberNode(32)},
            {"unet/config.json", "transformer_layers_per_block", F.numberNode(1_000_000)},
            {"unet/config.json", "sample_size", F.numberNode(1_000_000_000)},
            {"unet/config.json", "sample_size", F.numberNode(-8)},
            {"unet/config.json", "sample_size", F.numberNode(0)},
            {"unet/config.json", "in_channels", F.numberNode(1_000_000)},
            {"unet/config.json", "cross_attention_dim", F.numberNode(1_000_000_000)},
            {"unet/config.json", "cross_attention_dim", F.numberNode(32)},
            {"unet/config.json", "num_class_embeds", F.numberNode(1_000_000_000)},
            {"unet/config.json", "time_embedding_dim", F.numberNode(1_000_000_000)},
            {"unet/config.json", "attention_head_dim", F.numberNode(1_000_000)},
            {"vae/config.json", "block_out_channels", arr(1_000_000_000)},
            {"vae/config.json", "latent_channels", F.numberNode(1_000_000)},
            {"vae/config.json", "latent_channels", F.numberNode(8)},
            {"vae/config.json", "layers_per_block", F.numberNode(1_000_000)},
            {"vae/config.json", "sample_size", F.numberNode(-5)},
            {"text_encoder/config.json", "vocab_size", F.numberNode(1e12)},
            {"text_encoder/config.json", "vocab_size", F.numberNode(2_000_000_000)},
            {"text_encoder/config.json", "vocab_size", F.numberNode(10)},
            {"text_encoder/config.json", "hidden_size", F.numberNode(65_536)},
            {"text_encoder/config.json", "hidden_size", F.numberNode(32)},
            {"text_encoder/config.json", "num_hidden_layers", F.numberNode(1_000_000)},
            {"text_encoder/config.json", "num_hidden_layers", F.numberNode(1_000)},
            {"text_encoder/config.json", "max_position_embeddings", F.numberNode(1e9)},
            {"text_encoder/config.json", "max_position_embeddings", F.numberNode(16)},
            {"text_encoder/config.json", "intermediate_size", F.numberNode(-32)},
            {"scheduler/scheduler_config.json", "num_train_timesteps",
                F.numberNode(1_000_000_000)},
            {"scheduler/scheduler_config.json", "num_train_timesteps", F.numberNode(0)},
            {"scheduler/scheduler_config.json", "trained_betas", arr(0.5, 2.0)},
            {"scheduler/scheduler_config.json", "beta_end", F.numberNode(-1)},
            {"scheduler/scheduler_config.json", "steps_offset", F.numberNode(1_000_000)},
            {"jdiffusion.json", "clip_skip", F.numberNode(1_000_000)},
            {"jdiffusion.json", "clip_skip", F.numberNode(-3)},
            {"jdiffusion.json", "prompt_syntax", F.textNode("nai")},
            {"jdiffusion.json", "prompt_syntax", F.numberNode(1)},
            {"jdiffusion.json", "default_sampler", F.textNode("no-such-sampler")},
            {"jdiffusion.json", "default_guidance", F.numberNode(-1e300)},
            {"jdiffusion.json", "default_guidance", F.textNode("NaN")},
            {"jdiffusion.json", "labels", arr(1, 2, 3)},
            {"tokenizer/tokenizer_config.json", "model_max_length", F.numberNode(1e30)},
            {"tokenizer/tokenizer_config.json", "model_max_length", F.numberNode(100)},
        };
        for (Object[] c : cases) {
            String jf = (String) c[0];
            String field = (String) c[1];
            JsonNode value = (JsonNode) c[2];
            long rssBefore = Rss.kib();
            LoadOutcome o = load(d -> {
                Path file = d.resolve(jf);
                ObjectNode n = Files.exists(file) ? (ObjectNode) readTree(read(file))
                        : F.objectNode();
                n.set(field, value);
                TinyModel.replace(file, bytes(n));
            }, true);
            long grownMib = (Rss.kib() - rssBefore) / 1024;
            String name = jf + " " + field + "=" + value;
            // Values that are merely unusual may load, but then they must also generate.
            log.refuseOrWork(name, o, jf.substring(jf.lastIndexOf('/') + 1));
            if (grownMib > 300) {
                log.mustRefuse(name + " grew RSS by " + grownMib + " MiB",
                        new LoadOutcome(LoadOutcome.Kind.OTHER, "RSS", null, o.millis()));
            }
        }
        log.assertClean();
    }

    // ------------------------------------------------------------- folder structure

    @Test
    void missingFilesAndFolders() {
        CaseLog log = new CaseLog("missing files/folders");
        List<String> optional = List.of("jdiffusion.json");
        for (String f : TinyModel.files()) {
            LoadOutcome o = load(d -> delete(d.resolve(f)), true);
            if (optional.contains(f)) {
                log.mustWork("without " + f, o);
            } else {
                log.mustRefuse("without " + f, o, f.substring(f.lastIndexOf('/') + 1));
            }
        }
        for (String dir : List.of("unet", "vae", "text_encoder", "tokenizer", "scheduler")) {
            LoadOutcome o = load(d -> TinyModel.deleteTree(d.resolve(dir)), true);
            log.mustRefuse("without " + dir + "/", o, dir);
            o = load(d -> {
                TinyModel.deleteTree(d.resolve(dir));
                TinyModel.replace(d.resolve(dir), utf8("not a folder"));
            }, true);
            log.mustRefuse(dir + " is a file", o, dir);
        }
        // Components unlisted in model_index.json.
        for (String comp : List.of("unet", "vae", "text_encoder", "tokenizer", "scheduler")) {
            for (JsonNode entry : List.of(F.nullNode(), F.arrayNode().addNull().addNull(),
                    F.textNode("diffusers"), F.arrayNode().add("diffusers"), F.numberNode(5))) {
                LoadOutcome o = load(d -> editJson(d.resolve("model_index.json"),
                        n -> n.set(comp, entry)), true);
                // Without the VAE or text encoder the UNet does not fit: refused either way.
                log.mustRefuse("model_index " + comp + "=" + entry, o);
            }
            LoadOutcome o = load(d -> editJson(d.resolve("model_index.json"),
                    n -> n.remove(comp)), true);
            log.mustRefuse("model_index without " + comp, o);
        }
        log.assertClean();
    }

    @Test
    void componentNamesCannotLeaveTheFolder() {
        CaseLog log = new CaseLog("component names");
        Path outside = TinyModel.scratch("outside-");
        TinyModel.variant(outside.resolve("copy"));
        List<String> names = List.of("../outside", "../../etc", "/etc", "/tmp", "unet/../..",
                "..", ".", "", "\u0000", "unet\u0000", "C:\\Windows", "%2e%2e", "~");
        for (String name : names) {
            // An extra component under a hostile name: the loader reads only its own
            // components, so the model either still loads or is refused.
            LoadOutcome o = load(d -> editJson(d.resolve("model_index.json"), n -> n.set(name,
                    F.arrayNode().add("diffusers").add("UNet2DConditionModel"))), true);
            log.refuseOrWork("extra component '" + name + "'", o, "model_index");
            // A component entry whose class names a path.
            o = load(d -> editJson(d.resolve("model_index.json"), n -> n.set("unet",
                    F.arrayNode().add(name).add(name))), true);
            log.refuseOrWork("unet entry '" + name + "'", o, "unet");
        }
        TinyModel.deleteTree(outside);
        log.assertClean();
    }

    @Test
    void symlinksOutOfTheFolderAreRefused() throws IOException {
        CaseLog log = new CaseLog("symlinks out");
        // Identical copy outside: if the loader followed a link, the model would load.
        Path outside = TinyModel.scratch("outside-");
        Path copy = TinyModel.variant(outside.resolve("copy"));
        List<String> targets = new ArrayList<>(TinyModel.files());
        targets.addAll(List.of("unet", "vae", "text_encoder", "tokenizer", "scheduler"));
        for (String t : targets) {
            LoadOutcome o = load(d -> {
                try {
                    TinyModel.deleteTree(d.resolve(t));
                    Files.createSymbolicLink(d.resolve(t), copy.resolve(t));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, true);
            log.mustRefuse(t + " -> outside copy", o, "outside");
        }
        for (String special : List.of("/dev/zero", "/dev/urandom", "/proc/self/mem",
                "/proc/self/environ", "/etc/passwd", "/nonexistent")) {
            for (String t : List.of("unet/config.json", "model_index.json",
                    "unet/diffusion_pytorch_model.safetensors", "tokenizer/vocab.json")) {
                LoadOutcome o = load(d -> {
                    try {
                        Files.delete(d.resolve(t));
                        Files.createSymbolicLink(d.resolve(t), Path.of(special));
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }, false);
                log.mustRefuse(t + " -> " + special, o, t.substring(t.lastIndexOf('/') + 1));
            }
        }
        // A link that stays inside the folder is fine (here: the same content elsewhere).
        LoadOutcome o = load(d -> {
            try {
                Path inside = Files.createDirectories(d.resolve("common-files"));
                Files.move(d.resolve("unet/config.json"), inside.resolve("unet-config.json"));
                Files.createSymbolicLink(d.resolve("unet/config.json"),
                        Path.of("../common-files/unet-config.json"));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, true);
        log.mustWork("unet/config.json -> inside", o);
        // The model folder itself may be a link (the user chose it).
        Path link = outside.resolve("link-to-model");
        Files.createSymbolicLink(link, TinyModel.folder());
        log.mustWork("model folder is a link", LoadOutcome.attempt(link, true));
        TinyModel.deleteTree(outside);
        log.assertClean();
    }

    @Test
    void tokenizerFilesThatAreFifosAreRefusedWithoutHanging() throws Exception {
        Fifos.requireMkfifo();
        CaseLog log = new CaseLog("tokenizer fifos");
        for (String f : List.of("vocab.json", "merges.txt", "special_tokens_map.json",
                "tokenizer_config.json")) {
            String t = "tokenizer/" + f;
            // The FIFO itself, and a link inside the folder that leads to one.
            for (boolean viaLink : new boolean[] {false, true}) {
                LoadOutcome o = load(d -> {
                    try {
                        Files.deleteIfExists(d.resolve(t));
                        Path fifo = viaLink ? d.resolve("pipe") : d.resolve(t);
                        Fifos.mkfifo(fifo);
                        if (viaLink) {
                            Files.createSymbolicLink(d.resolve(t), Path.of("../pipe"));
                        }
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }, false);
                log.mustRefuse(t + (viaLink ? " -> fifo" : " is a fifo"), o, f, "regular file");
            }
        }
        log.assertClean();
    }

    @Test
    void pickleFilesAreRefused() throws IOException {
        CaseLog log = new CaseLog("pickles");
        byte[] pickle = {(byte) 0x80, 2, '}', 'q', 0, '.'};
        byte[] zip = {'P', 'K', 3, 4, 20, 0, 0, 0};
        for (String wf : TinyModel.WEIGHT_FILES) {
            String dir = component(wf);
            String base = wf.contains("text_encoder") ? "pytorch_model" : "diffusion_pytorch_model";
            for (String ext : List.of(".bin", ".ckpt", ".pt", ".pth")) {
                for (byte[] content : List.of(pickle, zip)) {
                    LoadOutcome o = load(d -> {
                        delete(d.resolve(wf));
                        TinyModel.replace(d.resolve(dir).resolve(base + ext), content);
                    }, false);
                    log.mustRefuse(dir + "/" + base + ext, o, "pickle", "safetensors");
                }
            }
            for (byte[] content : List.of(pickle, zip)) {
                LoadOutcome o = load(d -> TinyModel.replace(d.resolve(wf), content), false);
                log.mustRefuse(wf + " with pickle content", o, "pickle");
            }
        }
        Path files = TinyModel.scratch("pickle-files-");
        for (String name : List.of("model.ckpt", "model.bin", "model.pt", "model.pth",
                "model.pkl", "model.CKPT", "model.safetensors", "model")) {
            for (byte[] content : List.of(pickle, zip)) {
                Path f = files.resolve(name);
                TinyModel.replace(f, content);
                log.mustRefuse(name, LoadOutcome.attempt(f, false), name);
            }
        }
        TinyModel.deleteTree(files);
        log.assertClean();
    }

    // ---------------------------------------------------------------- helpers

    private static ArrayNode arr(double... values) {
        ArrayNode a = F.arrayNode();
        for (double v : values) {
            if (v == Math.rint(v) && Math.abs(v) < 1e15) {
                a.add((long) v);
            } else {
                a.add(v);
            }
        }
        return a;
    }

    private static void editJson(Path file, Consumer<ObjectNode> edit) {
        ObjectNode n = (ObjectNode) readTree(read(file));
        edit.accept(n);
        TinyModel.replace(file, bytes(n));
    }

    private static void delete(Path p) {
        try {
            Files.delete(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static JsonNode readTree(byte[] b) {
        try {
            return JSON.readTree(b);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] bytes(JsonNode n) {
        try {
            return JSON.writeValueAsBytes(n);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static List<String> fieldNames(JsonNode n) {
        List<String> out = new ArrayList<>();
        Iterator<String> it = n.fieldNames();
        it.forEachRemaining(out::add);
        Collections.sort(out);
        return out;
    }
}
