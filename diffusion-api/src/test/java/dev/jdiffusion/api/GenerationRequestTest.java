package dev.jdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GenerationRequestTest {

    private static GenerationRequest.Builder base() {
        return GenerationRequest.builder("a cat face");
    }

    private static void rejects(UnaryOperator<GenerationRequest.Builder> change, String field) {
        assertThatThrownBy(() -> change.apply(base()).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(field);
    }

    @Test
    void defaultsAreValid() {
        GenerationRequest r = base().build();
        assertThat(r.steps()).isEqualTo(20);
        assertThat(r.numImages()).isEqualTo(1);
        assertThat(r.width()).isEmpty();
        assertThat(r.seed()).isEmpty();
        assertThat(r.negativePrompt()).isEmpty();
    }

    @Test
    void promptMustNotBeNull() {
        rejects(b -> b.prompt(null), "prompt");
        rejects(b -> b.negativePrompt(null), "negativePrompt");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -8, 4, 30, 513, 8192})
    void widthAndHeightMustBePositiveMultiplesOf8(int size) {
        rejects(b -> b.size(size, 64), "width");
        rejects(b -> b.size(64, size), "height");
    }

    @Test
    void validSizesAreKept() {
        GenerationRequest r = base().size(8, 520).build();
        assertThat(r.width()).hasValue(8);
        assertThat(r.height()).hasValue(520);
    }

    @Test
    void stepsMustBeAtLeastOne() {
        rejects(b -> b.steps(0), "steps");
        rejects(b -> b.steps(-3), "steps");
        rejects(b -> b.steps(1001), "steps");
        assertThat(base().steps(1).build().steps()).isEqualTo(1);
    }

    @Test
    void guidanceMustBeNonNegativeAndFinite() {
        rejects(b -> b.guidanceScale(-0.1), "guidanceScale");
        rejects(b -> b.guidanceScale(Double.NaN), "guidanceScale");
        rejects(b -> b.guidanceScale(Double.POSITIVE_INFINITY), "guidanceScale");
        rejects(b -> b.guidanceRescale(1.5), "guidanceRescale");
        assertThat(base().guidanceScale(0).build().guidanceScale()).isZero();
    }

    @Test
    void strengthMustBeInUnitInterval() {
        rejects(b -> b.strength(-0.01), "strength");
        rejects(b -> b.strength(1.01), "strength");
        rejects(b -> b.strength(Double.NaN), "strength");
        assertThat(base().strength(0).build().strength()).isZero();
        assertThat(base().strength(1).build().strength()).isEqualTo(1.0);
    }

    @Test
    void batchMustBeAtLeastOne() {
        rejects(b -> b.numImages(0), "numImages");
        rejects(b -> b.numImages(65), "numImages");
    }

    @Test
    void spacingMustBeKnown() {
        rejects(b -> b.spacing("sideways"), "spacing");
        assertThat(base().spacing("Karras").build().spacing()).isEqualTo("karras");
    }

    @Test
    void maskNeedsAnInitImageOfTheSameSize() {
        GeneratedImage img = new GeneratedImage(16, 16, new int[256], null, Map.of());
        GeneratedImage small = new GeneratedImage(8, 8, new int[64], null, Map.of());
        rejects(b -> b.mask(img), "mask");
        rejects(b -> b.initImage(img).mask(small), "mask size");
        assertThat(base().initImage(img).mask(img).build().mask()).isNotNull();
    }

    @Test
    void guidanceMustFitAFloat() {
        // 1e300 is finite as a double but becomes Infinity as the float the sampler uses.
        assertThatThrownBy(() -> base().guidanceScale(1e300).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("guidanceScale").hasMessageContaining("1.0E300")
                .hasMessageContaining(String.valueOf(Float.MAX_VALUE));
        rejects(b -> b.guidanceScale(Math.nextUp((double) Float.MAX_VALUE)), "guidanceScale");
        assertThat(base().guidanceScale(Float.MAX_VALUE).build().guidanceScale())
                .isEqualTo(Float.MAX_VALUE);
    }

    @Test
    void initImageAndMaskMustFitMaxSize() {
        int over = GenerationRequest.MAX_SIZE + 8;
        GeneratedImage wide = new GeneratedImage(over, 8, new int[over * 8], null, Map.of());
        GeneratedImage tall = new GeneratedImage(8, over, new int[over * 8], null, Map.of());
        assertThatThrownBy(() -> base().initImage(wide).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("initImage").hasMessageContaining(over + "x8")
                .hasMessageContaining(String.valueOf(GenerationRequest.MAX_SIZE));
        rejects(b -> b.initImage(tall), "initImage");
        rejects(b -> b.initImage(wide).mask(wide), "initImage");
        int max = GenerationRequest.MAX_SIZE;
        GeneratedImage edge = new GeneratedImage(max, 8, new int[max * 8], null, Map.of());
        assertThat(base().initImage(edge).mask(edge).build().initImage()).isSameAs(edge);
    }

    @Test
    void previewEveryMustBeNonNegative() {
        rejects(b -> b.previewEvery(-1), "previewEvery");
    }

    @Test
    void toBuilderCopiesEveryField() {
        GenerationRequest r = base().negativePrompt("blurry").size(64, 32).steps(7)
                .guidanceScale(3).strength(0.4).numImages(2).seed(9).sampler("Euler")
                .spacing("trailing").previewEvery(2).build();
        assertThat(r.toBuilder().build().toString()).isEqualTo(r.toString());
        assertThat(r.sampler()).isEqualTo("euler");
    }
}
