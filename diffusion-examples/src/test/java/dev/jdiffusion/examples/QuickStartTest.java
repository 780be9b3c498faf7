package dev.jdiffusion.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.jdiffusion.api.GeneratedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * README's Java snippet is {@link QuickStart}'s code, and it runs as written: in a fresh JVM, in
 * an empty working folder, with nothing but the class path (the shipped model comes from it).
 */
class QuickStartTest {

    private static final Path README = Path.of("..", "README.md");
    private static final Path SOURCE =
            Path.of("src", "main", "java", "dev", "jdiffusion", "examples", "QuickStart.java");

    /** The first ```java block of README. */
    static List<String> readmeSnippet() throws IOException {
        List<String> lines = Files.readAllLines(README, StandardCharsets.UTF_8);
        int start = lines.indexOf("```java");
        assertThat(start).as("a ```java block in README").isNotNegative();
        int end = lines.subList(start + 1, lines.size()).indexOf("```") + start + 1;
        return lines.subList(start + 1, end);
    }

    /** QuickStart's lines between its README markers, indentation of the first line removed. */
    static List<String> exampleBody() throws IOException {
        List<String> lines = Files.readAllLines(SOURCE, StandardCharsets.UTF_8);
        int begin = -1;
        int end = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).trim().equals("// README: begin")) {
                begin = i + 1;
            } else if (lines.get(i).trim().equals("// README: end")) {
                end = i;
            }
        }
        assertThat(begin).as("README markers in " + SOURCE).isPositive().isLessThan(end);
        String first = lines.get(begin);
        int indent = first.length() - first.stripLeading().length();
        List<String> out = new ArrayList<>();
        for (String l : lines.subList(begin, end)) {
            out.add(l.length() >= indent ? l.substring(indent) : l.strip());
        }
        return out;
    }

    @Test
    void readmeShowsTheExampleVerbatimWithItsImports() throws Exception {
        List<String> readme = readmeSnippet();
        List<String> imports = readme.stream().filter(l -> l.startsWith("import ")).toList();
        List<String> body = readme.subList(imports.size() + 1, readme.size());
        assertThat(readme.get(imports.size())).as("a blank line after the imports").isEmpty();
        assertThat(body).isEqualTo(exampleBody());
        List<String> source = Files.readAllLines(SOURCE, StandardCharsets.UTF_8);
        String samePackage = "import " + QuickStart.class.getPackageName() + ".";
        for (String i : imports) {
            if (i.startsWith(samePackage) && i.indexOf('.', samePackage.length()) < 0) {
                // QuickStart's own package needs no import; the class must exist there.
                Class.forName(i.substring("import ".length(), i.length() - 1));
            } else {
                assertThat(source).as("README's imports are QuickStart's").contains(i);
            }
        }
        assertThat(String.join("\n", readme)).doesNotContain("my-model");
    }

    @Test
    void theExampleRunsAsWrittenInAFreshJvm(@TempDir Path dir) throws Exception {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        ProcessBuilder pb = new ProcessBuilder(java, "-Dai.djl.offline=true", "-cp",
                System.getProperty("java.class.path"), QuickStart.class.getName())
                .directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("output.txt").toFile());
        pb.environment().put("DJL_OFFLINE", "true");
        pb.environment().put("JDIFFUSION_CACHE", dir.resolve("cache").toString());
        Process p = pb.start();
        boolean finished = p.waitFor(300, TimeUnit.SECONDS);
        if (!finished) {
            p.destroyForcibly();
        }
        String output = Files.readString(dir.resolve("output.txt"));
        assertThat(finished).as("finished within 300 s; output:\n" + output).isTrue();
        assertThat(p.exitValue()).as(output).isZero();
        Path png = dir.resolve("face.png");
        assertThat(png).as(output).isRegularFile();
        GeneratedImage img = GeneratedImage.read(png);
        assertThat(img.width()).isEqualTo(32);
        assertThat(img.height()).isEqualTo(32);
        // The PNG's tEXt chunk: keyword, NUL, then the prompt and the settings in Latin-1.
        String bytes = new String(Files.readAllBytes(png), StandardCharsets.ISO_8859_1);
        int at = bytes.indexOf(GeneratedImage.PARAMETERS_KEY + "\0");
        assertThat(at).as("a parameters chunk").isNotNegative();
        String params = bytes.substring(at + GeneratedImage.PARAMETERS_KEY.length() + 1);
        String prompt = params.lines().findFirst().orElseThrow();
        assertThat(String.join("\n", readmeSnippet())).as("the image's prompt is README's")
                .contains("\"" + prompt + "\"");
        assertThat(params).as("PNG parameters").contains("Seed: 13", "Steps: 20",
                "CFG scale: 4.0", "Model: jdiffusion-emoji");
    }
}
