package dev.jdiffusion.examples;

import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import java.nio.file.Path;

/**
 * README's "Use it from Java" snippet, as a program: generates one image with the shipped
 * default model and writes {@code face.png} into the working folder. The build runs it
 * ({@code QuickStartTest}), and checks that README shows exactly this code.
 *
 * <pre>java -cp diffusion-examples/target/jdiffusion.jar dev.jdiffusion.examples.QuickStart</pre>
 */
public final class QuickStart {

    private QuickStart() {}

    /**
     * Runs the snippet.
     *
     * @param args ignored
     * @throws Exception if the model does not load or the image cannot be written
     */
    public static void main(String[] args) throws Exception {
        // README: begin
        try (DiffusionPipeline pipeline = DefaultModel.load(PipelineOptions.defaults())) {
            GenerationResult result = pipeline.generate(GenerationRequest.builder(
                    "grinning face, grinning (smileys & emotion, face smiling)")
                    .steps(20).guidanceScale(pipeline.defaultGuidance()).seed(13).build());
            result.images().get(0).writePng(Path.of("face.png")); // PNG with its parameters
        }
        // README: end
    }
}
