/**
 * Helpers shared by jdiffusion's own modules. Not part of the supported API: names and
 * signatures may change in any release; do not use them from application code.
 */
package dev.jdiffusion.api.internal;
