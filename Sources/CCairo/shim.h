// Cairo (cairographics.org) from the system, Debian's libcairo2-dev: the image surface
// (PNG) and the PDF surface nabla's figures are drawn on (Sources/NablaFigures).
#include <cairo.h>
#include <cairo-pdf.h>
