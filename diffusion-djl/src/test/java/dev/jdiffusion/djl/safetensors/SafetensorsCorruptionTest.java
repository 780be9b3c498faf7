package dev.jdiffusion.djl.safetensors;

import static dev.jdiffusion.djl.safetensors.SafetensorsBytes.concat;
import static dev.jdiffusion.djl.safetensors.SafetensorsBytes.f32;
import static dev.jdiffusion.djl.safetensors.SafetensorsBytes.file;
import static dev.jdiffusion.djl.safetensors.SafetensorsBytes.u16;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Thousands of corrupted files: each must be rejected with a {@link ModelLoadException} (or load
 * when the mutation happens to leave a valid file), never another exception, an error or a hang.
 */
class SafetensorsCorruptionTest {

    private static final String META = "\"__metadata__\":{\"format\":\"pt\"}";
    private static final byte[] DATA = concat(f32(1, -2, 3, 0.25f), u16(0x3C00, 0xC000, 0x3800),
            u16(0x3F80));

    @TempDir
    Path dir;

    private Path target;
    private int rejected;
    private int accepted;
    private int cases;

    private static String entry(String name, String dtype, String shape, String offsets) {
        return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape
                + ",\"data_offsets\":" + offsets + "}";
    }

    private static String header(String a, String b, String c) {
        return "{" + META + "," + a + "," + b + "," + c + "}";
    }

    private static final String A = entry("a", "\"F32\"", "[2,2]", "[0,16]");
    private static final String B = entry("b", "\"F16\"", "[3]", "[16,22]");
    private static final String C = entry("c", "\"BF16\"", "[1]", "[22,24]");
    private static final byte[] VALID = file(header(A, B, C), DATA);

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void corruptedFilesEndInModelLoadException() throws IOException {
        target = dir.resolve("corrupt.safetensors");
        // The pristine file loads.
        expect(VALID, Outcome.LOADS, "pristine");

        // 1. Truncated and extended files.
        for (int len = 0; len < VALID.length; len++) {
            expect(Arrays.copyOf(VALID, len), Outcome.FAILS, "truncated to " + len);
        }
        for (int extra = 1; extra <= 16; extra++) {
            expect(Arrays.copyOf(VALID, VALID.length + extra), Outcome.FAILS, "extended " + extra);
        }

        // 2. Header length field.
        byte[] h = header(A, B, C).getBytes(StandardCharsets.UTF_8);
        long size = VALID.length;
        for (long declared : new long[] {0, 1, 2, h.length - 1, h.length + 1, size - 8, size - 7,
                size, 100_000_001L, 1L << 32, (1L << 32) + h.length, Long.MAX_VALUE, -1,
                Long.MIN_VALUE, -h.length}) {
            expect(file(declared, h, DATA), Outcome.FAILS, "declared header length " + declared);
        }
        // A length past 100 MB fails before anything is allocated, even when the file is long.
        expect(file(100_000_001L, h, new byte[64]), Outcome.FAILS, "header over the bound");

        // 3. Headers that are not a JSON object of entries.
        for (String bad : new String[] {"", " ", "  ", "[]", "null", "1", "\"x\"", "{", "}", "{}}",
                "{]", "{\"a\":1}", "{\"a\":[]}", "{\"a\":null}", "{\"a\":\"F32\"}", "{}x",
                "{} {}", "{\"a\":{}}", "{" + META + "}", "{,}", "{\"a\":{\"dtype\":\"F32\"}}",
                "tru", "{\"a\" \"b\"}", "\u0000{}", "{}\u0000", "{\"\u0000\":1}", "{\"a\"::1}",
                header(A, B, C).replace("}}", "}"), header(A, B, C) + "}",
                "{\"__metadata__\":[]," + A + "," + B + "," + C + "}",
                "{\"__metadata__\":{\"k\":1}," + A + "," + B + "," + C + "}",
                "{\"__metadata__\":{\"k\":null}," + A + "," + B + "," + C + "}",
                "{\"__metadata__\":{\"k\":{}}," + A + "," + B + "," + C + "}",
                "{\"__metadata__\":\"x\"," + A + "," + B + "," + C + "}",
                "{" + META + "," + META + "," + A + "," + B + "," + C + "}",
                "{" + A + "," + A + "," + B + "," + C + "}",
                "{" + A + "," + B + "," + C + "," + B + "}",
                "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,2],"
                        + "\"data_offsets\":[0,16]}," + B + "," + C + "}",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],\"x\":1},"
                        + B + "," + C + "}",
                "{\"a\":{\"shape\":[2,2],\"data_offsets\":[0,16]}," + B + "," + C + "}",
                "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}," + B + "," + C + "}",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2]}," + B + "," + C + "}",
                "{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}",
                "{\"a\":{\"dtype\":\"" + "F".repeat(100_000) + "\"}}"}) {
            byte[] hb = bad.getBytes(StandardCharsets.UTF_8);
            expect(file(hb.length, hb, DATA), Outcome.FAILS, "header " + clip(bad));
        }
        // Invalid UTF-8 in a name.
        byte[] badUtf = header(A, B, C).getBytes(StandardCharsets.UTF_8);
        badUtf[META.length() + 3] = (byte) 0xC3;
        expect(file(badUtf.length, badUtf, DATA), Outcome.FAILS, "invalid UTF-8");

        // 4. Field-level mutations of tensor 'a' (F32, 16 bytes at [0,16]).
        String[] dtypes = {"\"F33\"", "\"f32\"", "1", "null", "[]", "{}", "\"\"", "\"F64\"",
            "\"U8\"", "\"F16\"", "\"I64\"", "\"BOOL\"", "true"};
        for (String d : dtypes) {
            expect(h(entry("a", d, "[2,2]", "[0,16]"), B, C), Outcome.FAILS, "dtype " + d);
        }
        String[] shapes = {"[-1,2]", "[2,2,2]", "[1.5]", "[\"2\"]", "null", "{}", "[2,-2]",
            "[4294967296,4294967296,4294967296]", "[9223372036854775807,2]",
            "[99999999999999999999]", "[2,2,0]", "[]", "[0]", "[16]", "[2,2", "[[2,2]]",
            "[4611686018427387904,4]", "[3037000500,3037000500]",
            "[" + "1,".repeat(70) + "4]", "[1e2]", "[0x10]", "[+4]", "[04]"};
        for (String s : shapes) {
            expect(h(entry("a", "\"F32\"", s, "[0,16]"), B, C), Outcome.FAILS, "shape " + s);
        }
        for (String s : new String[] {"[4]", "[1,4]", "[4,1,1]", "[1,1,1,1,2,2]"}) {
            expect(h(entry("a", "\"F32\"", s, "[0,16]"), B, C), Outcome.LOADS, "shape " + s);
        }
        String[] offsets = {"[0]", "[]", "[0,16,32]", "[-1,16]", "[16,0]", "[0,15]", "[0,17]",
            "[1,17]", "[0,1000]", "[8,24]", "[0,16.0]", "null", "\"0,16\"", "[\"0\",16]",
            "[9223372036854775807,9223372036854775807]", "[99999999999999999999,0]",
            "[0,99999999999999999999]", "[-16,0]", "[16,32]", "[2,18]", "[0,-16]",
            "[9223372036854775800,9223372036854775807]"};
        for (String o : offsets) {
            expect(h(entry("a", "\"F32\"", "[2,2]", o), B, C), Outcome.FAILS, "offsets " + o);
        }
        // Overlaps, gaps and out-of-range across tensors.
        expect(h(A, entry("b", "\"F16\"", "[3]", "[14,20]"),
                entry("c", "\"BF16\"", "[1]", "[20,22]")), Outcome.FAILS, "overlap");
        expect(h(A, entry("b", "\"F16\"", "[3]", "[18,24]"),
                entry("c", "\"BF16\"", "[1]", "[16,18]")), Outcome.LOADS, "reordered");
        expect(h(A, entry("b", "\"F16\"", "[3]", "[17,23]"),
                entry("c", "\"BF16\"", "[1]", "[22,24]")), Outcome.FAILS, "gap+overlap");
        expect(h(A, entry("b", "\"F16\"", "[3]", "[16,22]"),
                entry("c", "\"BF16\"", "[1]", "[23,25]")), Outcome.FAILS, "out of range");
        expect(h(A, entry("b", "\"F16\"", "[3]", "[16,22]"),
                entry("c", "\"BF16\"", "[1]", "[0,2]")), Outcome.FAILS, "overlap at start");
        expect(h(A, entry("b", "\"F16\"", "[3]", "[18,24]"),
                entry("c", "\"BF16\"", "[1]", "[18,20]")), Outcome.FAILS, "gap");
        expect(h(A, entry("b", "\"F16\"", "[3]", "[0,6]"),
                entry("c", "\"BF16\"", "[1]", "[6,8]")), Outcome.FAILS, "shared start");
        expect(file("{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                new byte[0]), Outcome.LOADS, "empty tensor");
        expect(file("{}", new byte[0]), Outcome.LOADS, "no tensors");
        expect(file("{}        ", new byte[0]), Outcome.LOADS, "padded");
        int deterministic = cases;

        // 5. Random byte changes in the header (length field included).
        Random r = new Random(20240611);
        int headerEnd = 8 + h.length;
        for (int i = 0; i < 3000; i++) {
            byte[] b = VALID.clone();
            int n = 1 + r.nextInt(4);
            for (int k = 0; k < n; k++) {
                b[r.nextInt(headerEnd)] = (byte) r.nextInt(256);
            }
            expect(b, Outcome.EITHER, "header flip " + i);
        }
        // 6. Single-bit flips in the header: each bit once.
        for (int bit = 0; bit < headerEnd * 8; bit++) {
            byte[] b = VALID.clone();
            b[bit / 8] ^= (byte) (1 << (bit % 8));
            expect(b, Outcome.EITHER, "bit " + bit);
        }
        // 7. Insertions and deletions inside the JSON with the length field kept consistent.
        String json = header(A, B, C);
        String alphabet = "{}[],:\"0123456789-.eE ntrufalsF1632BU_";
        for (int i = 0; i < 1000; i++) {
            StringBuilder sb = new StringBuilder(json);
            int pos = r.nextInt(sb.length());
            if (r.nextBoolean()) {
                sb.insert(pos, alphabet.charAt(r.nextInt(alphabet.length())));
            } else {
                sb.deleteCharAt(pos);
            }
            expect(file(sb.toString(), DATA), Outcome.EITHER, "edit " + i + ": " + clip(sb));
        }
        // 8. Numbers in the JSON replaced by extreme values.
        String[] extreme = {"0", "1", "-1", "2", "15", "17", "24", "25", "2147483647",
            "2147483648", "4294967296", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "18446744073709551615", "1e3", "0.5", "1.0"};
        Matcher num = Pattern.compile("\\d+").matcher(json);
        List<int[]> spans = new ArrayList<>();
        while (num.find()) {
            spans.add(new int[] {num.start(), num.end()});
        }
        for (int i = 0; i < 1000; i++) {
            int[] span = spans.get(r.nextInt(spans.size()));
            String mutated = json.substring(0, span[0]) + extreme[r.nextInt(extreme.length)]
                    + json.substring(span[1]);
            expect(file(mutated, DATA), Outcome.EITHER, "number " + clip(mutated));
        }
        // 9. Data bytes are not validated: any change still loads.
        for (int i = 0; i < 300; i++) {
            byte[] b = VALID.clone();
            b[headerEnd + r.nextInt(DATA.length)] = (byte) r.nextInt(256);
            expect(b, Outcome.LOADS, "data flip " + i);
        }

        assertThat(deterministic).isGreaterThan(200);
        assertThat(cases).isGreaterThan(5000);
        assertThat(rejected).isGreaterThan(3000);
        assertThat(accepted).isGreaterThan(300);
    }

    private enum Outcome { LOADS, FAILS, EITHER }

    private byte[] h(String a, String b, String c) {
        return file(header(a, b, c), DATA);
    }

    private void expect(byte[] bytes, Outcome outcome, String what) throws IOException {
        cases++;
        // Overwrite in place, then cut: Files.write's truncate-to-zero makes ext4 flush the file
        // on close (auto_da_alloc), a thousand times slower.
        try (FileChannel ch = FileChannel.open(target, StandardOpenOption.CREATE,
                StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(bytes), 0);
            ch.truncate(bytes.length);
        }
        try (SafetensorsFile f = SafetensorsFile.open(target)) {
            for (TensorInfo info : f.tensors().values()) {
                if (info.dtype().isReadableAsFloat()) {
                    float[] v = f.readFloats(info.name());
                    assertThat((long) v.length).isEqualTo(info.elementCount());
                }
            }
            accepted++;
            if (outcome == Outcome.FAILS) {
                fail("accepted a corrupt file (" + what + "): " + f.tensors().values());
            }
        } catch (ModelLoadException e) {
            rejected++;
            if (outcome == Outcome.LOADS) {
                fail("rejected a valid file (" + what + ")", e);
            }
            assertThat(e.getMessage()).as(what).contains(target.toString());
        } catch (Throwable t) {
            fail("case '" + what + "' threw " + t, t);
        }
    }

    private static String clip(CharSequence s) {
        return s.length() <= 120 ? s.toString() : s.subSequence(0, 120) + "...";
    }
}
