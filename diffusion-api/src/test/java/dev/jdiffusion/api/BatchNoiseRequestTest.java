package dev.jdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The request's batch-noise setting: default, copy and validation. */
class BatchNoiseRequestTest {

    @Test
    void perImageSeedsByDefault() {
        assertThat(GenerationRequest.builder("a").build().batchNoise())
                .isEqualTo(GenerationRequest.BatchNoise.PER_IMAGE_SEED);
    }

    @Test
    void sharedGeneratorIsKeptByToBuilderAndShown() {
        GenerationRequest r = GenerationRequest.builder("a").numImages(2)
                .batchNoise(GenerationRequest.BatchNoise.SHARED_GENERATOR).build();
        assertThat(r.batchNoise()).isEqualTo(GenerationRequest.BatchNoise.SHARED_GENERATOR);
        assertThat(r.toBuilder().build().batchNoise())
                .isEqualTo(GenerationRequest.BatchNoise.SHARED_GENERATOR);
        assertThat(r.toString()).contains("batchNoise=shared");
    }

    @Test
    void nullIsRejected() {
        assertThatThrownBy(() -> GenerationRequest.builder("a").batchNoise(null))
                .isInstanceOf(NullPointerException.class).hasMessageContaining("batchNoise");
    }
}
