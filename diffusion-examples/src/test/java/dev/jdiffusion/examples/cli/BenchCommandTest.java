package dev.jdiffusion.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.examples.bench.BenchOptions;
import dev.jdiffusion.examples.bench.BenchSuite;
import dev.jdiffusion.examples.bench.Result;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class BenchCommandTest {

    /** Two levels of 16/32 channels with attention in the second: milliseconds per forward. */
    private static final String TINY_UNET = """
            {"block_out_channels": [16, 32], "layers_per_block": 1, "norm_num_groups": 8,
             "cross_attention_dim": 24, "attention_head_dim": 2,
             "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
             "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"]}""";

    private static BenchCommand parse(String... args) {
        BenchCommand cmd = new BenchCommand();
        new CommandLine(cmd).parseArgs(args);
        return cmd;
    }

    @Test
    void parsesSectionsRepetitionsAndSizes(@TempDir Path dir) throws Exception {
        Path cfg = Files.writeString(dir.resolve("unet.json"), TINY_UNET);
        BenchOptions o = parse("--only", "unet-sd15,matmul", "--repeat", "5", "--warmup", "2",
                "--batch", "1,2,4", "--latent-size", "8", "--unet-config", cfg.toString(),
                "--work", dir.toString(), "--model", dir.toString(), "--matmul-size", "64")
                .options();
        assertThat(o.sections()).containsExactlyInAnyOrder("unet-sd15", "matmul");
        assertThat(o.repeat()).isEqualTo(5);
        assertThat(o.warmup()).isEqualTo(2);
        assertThat(o.batches()).containsExactly(1, 2, 4);
        assertThat(o.latentSize()).isEqualTo(8);
        assertThat(o.unetConfig()).isEqualTo(TINY_UNET);
        assertThat(o.work()).isEqualTo(dir);
        assertThat(o.model()).isEqualTo(dir);
        assertThat(o.matmulSize()).isEqualTo(64);
    }

    @Test
    void defaultsToEverySectionAndSkipRemoves(@TempDir Path dir) throws Exception {
        BenchOptions all = parse("--work", dir.toString()).options();
        assertThat(all.sections()).containsExactlyInAnyOrderElementsOf(
                BenchSuite.DEFAULT_SECTIONS)
                .doesNotContain("kernels", "end-to-end", "pipeline-sd15", "unet-sdxl");
        assertThat(all.decoder()).isEqualTo("vae");
        assertThat(parse("--work", dir.toString(), "--only", "end-to-end").options().sections())
                .containsExactly("end-to-end");
        assertThatThrownBy(() -> parse("--work", dir.toString(), "--decoder", "nope").options())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--decoder");
        assertThat(all.batches()).containsExactly(1, 2);
        assertThat(all.repeat()).isEqualTo(3);
        assertThat(all.unetConfig()).contains("\"block_out_channels\": [320, 640, 1280, 1280]");
        BenchOptions some = parse("--work", dir.toString(), "--skip", "peak,load").options();
        assertThat(some.sections()).doesNotContain("peak", "load").contains("matmul");
    }

    @Test
    void rejectsUnknownSectionsAndBadCounts(@TempDir Path dir) {
        assertThatThrownBy(() -> parse("--only", "unet,matmul").options())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown section 'unet'").hasMessageContaining("unet-sd15");
        assertThatThrownBy(() -> parse("--repeat", "0").options())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--repeat");
    }

    @Test
    void takesADeviceAndHalfPrecisionForTheNetworkSectionsOnly(@TempDir Path dir)
            throws Exception {
        BenchOptions o = parse("--work", dir.toString(), "--only", "unet-sd15,vae",
                "--device", "gpu:1", "--half").options();
        assertThat(o.device()).isEqualTo("gpu:1");
        assertThat(o.half()).isTrue();
        assertThat(o.onGpuDevice()).isTrue();
        BenchOptions plain = parse("--work", dir.toString()).options();
        assertThat(plain.device()).isEqualTo("cpu");
        assertThat(plain.half()).isFalse();
        assertThat(plain.onGpuDevice()).isFalse();
        assertThatThrownBy(() -> parse("--work", dir.toString(), "--device", "cuda").options())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--device: expected cpu, gpu or gpu:N (got 'cuda')");
        assertThatThrownBy(() -> parse("--work", dir.toString(), "--device", "gpu:0",
                "--only", "vae,peak,load").options())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--device gpu:0 applies to matmul, unet-default,"
                        + " unet-sd15, vae, pipeline-sd15 only")
                .hasMessageContaining("(load, peak run on CPU");
        assertThat(parse("--work", dir.toString(), "--device", "gpu:0", "--half", "--only",
                "pipeline-sd15").options().sections()).containsExactly("pipeline-sd15");
        assertThatThrownBy(() -> parse("--work", dir.toString(), "--half").options())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--half applies to").hasMessageContaining("sampler");
    }

    @Test
    void refusesAGpuTheEngineDoesNotSee(@TempDir Path dir) {
        // The build machines have no GPU; where one is present this test has nothing to show.
        org.junit.jupiter.api.Assumptions.assumeTrue(
                ai.djl.engine.Engine.getEngine("PyTorch").getGpuCount() == 0);
        java.io.StringWriter err = new java.io.StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setErr(new java.io.PrintWriter(err, true));
        int code = cl.execute("bench", "--work", dir.toString(), "--only", "vae", "--device",
                "gpu:0");
        assertThat(code).isNotZero();
        assertThat(err.toString()).contains("--device gpu:0: no GPU is usable by the PyTorch"
                + " engine on this machine; use --device cpu");
    }

    @Test
    void skipsThePipelineSectionWithoutATokenizer(@TempDir Path dir) throws Exception {
        BenchOptions o = parse("--only", "pipeline-sd15", "--work", dir.toString()).options();
        List<Result> results = new BenchSuite(o, new PrintStream(new ByteArrayOutputStream(),
                true, StandardCharsets.UTF_8)).run();
        assertThat(results).singleElement().satisfies(r -> {
            assertThat(r.section()).isEqualTo("pipeline-sd15");
            assertThat(r.value()).isNaN();
            assertThat(r.note()).contains("give --tokenizer");
        });
    }

    @Test
    void computesATinyUNetInFloat16(@TempDir Path dir) throws Exception {
        Path cfg = Files.writeString(dir.resolve("unet.json"), TINY_UNET);
        BenchOptions o = parse("--only", "matmul,unet-sd15", "--half", "--repeat", "1",
                "--warmup", "0", "--batch", "2", "--latent-size", "8", "--text-length", "5",
                "--unet-config", cfg.toString(), "--matmul-size", "64", "--threads", "1",
                "--work", dir.toString()).options();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        List<Result> results = new BenchSuite(o, new PrintStream(buf, true,
                StandardCharsets.UTF_8)).run();
        assertThat(results).extracting(Result::name)
                .containsExactly("fp16 matMul 64²", "forward batch 2 (= 1 guided step)");
        assertThat(results).allSatisfy(r -> assertThat(r.value()).isPositive().isFinite());
        // A finite, non-zero output spread: the float16 forward ran and did not overflow.
        assertThat(results.get(1).note()).containsPattern("output std 0\\.[1-9]");
        assertThat(buf.toString(StandardCharsets.UTF_8))
                .contains("device sections (matmul, unet-default, unet-sd15, vae,"
                        + " pipeline-sd15): cpu, float16");
    }

    @Test
    void measuresATinyUNetAndItsProfile(@TempDir Path dir) throws Exception {
        Path cfg = Files.writeString(dir.resolve("unet.json"), TINY_UNET);
        BenchOptions o = parse("--only", "matmul,unet-sd15,profile", "--repeat", "1",
                "--warmup", "0", "--batch", "1,2", "--latent-size", "8", "--text-length", "5",
                "--unet-config", cfg.toString(), "--matmul-size", "64",
                "--threads", "1", "--work", dir.toString()).options();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        List<Result> results = new BenchSuite(o, new PrintStream(buf, true,
                StandardCharsets.UTF_8)).run();
        String text = buf.toString(StandardCharsets.UTF_8);
        assertThat(results).extracting(Result::name).doesNotContain("failed")
                .contains("forward batch 1", "forward batch 2 (= 1 guided step)",
                        "replay sum batch 2", "down_blocks.1", "kind ATTENTION");
        assertThat(results).allSatisfy(r -> assertThat(r.value()).isPositive().isFinite());
        assertThat(results.stream().map(Result::section).distinct().toList())
                .containsExactly("matmul", "unet-sd15", "profile");
        assertThat(text).contains("| section | measure | median | unit | note |")
                .contains("GFLOP/s");
        assertThat(Set.copyOf(results.stream().map(Result::unit).toList())).contains("s",
                "GFLOP/s");
    }

    @Test
    void measuresTheLoraSectionOnATinyUNet(@TempDir Path dir) throws Exception {
        Path cfg = Files.writeString(dir.resolve("unet.json"), TINY_UNET);
        BenchOptions o = parse("--only", "lora", "--repeat", "1", "--warmup", "0",
                "--latent-size", "8", "--text-length", "5", "--unet-config", cfg.toString(),
                "--threads", "1", "--work", dir.toString()).options();
        List<Result> results = new BenchSuite(o, new PrintStream(new ByteArrayOutputStream(),
                true, StandardCharsets.UTF_8)).run();
        assertThat(results).extracting(Result::name).doesNotContain("failed")
                .contains("create derived (read + merge)", "extra memory of a derived pipeline",
                        "UNet step, base weights", "UNet step, derived (overlay)",
                        "UNet step, merged in place");
        assertThat(results).allSatisfy(r -> assertThat(r.value()).isPositive().isFinite());
    }

    @Test
    void pairsTheConvolutionKernelsAndRestoresTheProperty(@TempDir Path dir) throws Exception {
        Path cfg = Files.writeString(dir.resolve("unet.json"), TINY_UNET);
        BenchOptions o = parse("--only", "kernels", "--repeat", "2", "--warmup", "0",
                "--batch", "1", "--latent-size", "8", "--text-length", "5", "--unet-config",
                cfg.toString(), "--threads", "1", "--work", dir.toString()).options();
        String before = System.getProperty("jdiffusion.conv");
        List<Result> results = new BenchSuite(o, new PrintStream(new ByteArrayOutputStream(),
                true, StandardCharsets.UTF_8)).run();
        assertThat(results).extracting(Result::name).containsExactly(
                "UNet forward batch 1, 8² latents", "TAESD decode to 64²");
        assertThat(results).allSatisfy(r -> {
            assertThat(r.value()).isPositive().isFinite();
            assertThat(r.note()).contains("plain").contains("auto").contains("2 ABBA pairs");
        });
        assertThat(System.getProperty("jdiffusion.conv")).isEqualTo(before);
    }
}
