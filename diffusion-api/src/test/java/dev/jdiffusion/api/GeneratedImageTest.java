package dev.jdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class GeneratedImageTest {

    @TempDir Path dir;

    @Test
    void pngRoundTripKeepsPixelsAndParametersText() throws Exception {
        int[] px = new int[4 * 2];
        for (int i = 0; i < px.length; i++) {
            px[i] = 0x102030 * i;
        }
        String params = "a cat face\nNegative prompt: blurry\nSteps: 20, Seed: 42, Prompt ünïcødé 猫";
        GeneratedImage img = new GeneratedImage(4, 2, px, 42L,
                Map.of(GeneratedImage.PARAMETERS_KEY, params));
        Path file = dir.resolve("sub/out.png");
        img.writePng(file);

        GeneratedImage back = GeneratedImage.read(file);
        assertThat(back.rgb()).containsExactly(img.rgb());
        assertThat(readText(file, "parameters")).isEqualTo(params);
        try (var s = Files.list(file.getParent())) {
            assertThat(s).containsExactly(file); // no temporary file left behind
        }
    }

    @Test
    void rejectsMismatchedPixelCount() {
        assertThatThrownBy(() -> new GeneratedImage(4, 4, new int[15], null, Map.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("16");
    }

    @Test
    void readingAMissingFileSaysSo() {
        assertThatThrownBy(() -> GeneratedImage.read(dir.resolve("none.png")))
                .hasMessageContaining("not found");
    }

    private static String readText(Path png, String key) throws Exception {
        try (ImageInputStream in = ImageIO.createImageInputStream(png.toFile())) {
            ImageReader reader = ImageIO.getImageReaders(in).next();
            reader.setInput(in);
            IIOMetadata meta = reader.getImageMetadata(0);
            Element root = (Element) meta.getAsTree("javax_imageio_png_1.0");
            for (String tag : new String[] {"tEXtEntry", "iTXtEntry"}) {
                NodeList list = root.getElementsByTagName(tag);
                for (int i = 0; i < list.getLength(); i++) {
                    Element e = (Element) list.item(i);
                    if (key.equals(e.getAttribute("keyword"))) {
                        return tag.startsWith("t") ? e.getAttribute("value")
                                : e.getAttribute("text");
                    }
                }
            }
        }
        return null;
    }
}
