package dev.jdiffusion.djl.reliability;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import org.w3c.dom.Node;

/** Reads the text chunks ({@code tEXt}, {@code iTXt}) of a PNG file with ImageIO. */
final class PngText {

    private PngText() {}

    static Map<String, String> read(Path png) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        try (ImageInputStream in = ImageIO.createImageInputStream(png.toFile())) {
            ImageReader reader = ImageIO.getImageReaders(in).next();
            try {
                reader.setInput(in);
                IIOMetadata meta = reader.getImageMetadata(0);
                Node root = meta.getAsTree("javax_imageio_png_1.0");
                for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
                    for (Node e = n.getFirstChild(); e != null; e = e.getNextSibling()) {
                        if (e.getNodeName().equals("tEXtEntry")) {
                            out.put(attr(e, "keyword"), attr(e, "value"));
                        } else if (e.getNodeName().equals("iTXtEntry")) {
                            out.put(attr(e, "keyword"), attr(e, "text"));
                        }
                    }
                }
            } finally {
                reader.dispose();
            }
        }
        return out;
    }

    private static String attr(Node n, String name) {
        Node a = n.getAttributes().getNamedItem(name);
        return a == null ? null : a.getNodeValue();
    }
}
