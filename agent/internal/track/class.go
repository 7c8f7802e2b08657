package track

import (
	"strconv"
	"strings"

	"github.com/vigia-pe/vigia/agent/internal/infer"
)

// DefaultClassGroup groups labels that detectors confuse with each other on
// the same object, so that a car briefly labelled "truck" keeps its track
// while a person is never matched to a car: four-wheel vehicles ("vehicle"),
// two-wheelers ("two-wheeler"), and every other label on its own. Detections
// without a label are grouped by class index.
func DefaultClassGroup(d infer.Detection) string {
	label := strings.ToLower(d.Label)
	switch label {
	case "car", "truck", "bus", "van", "pickup", "suv", "minibus", "taxi":
		return "vehicle"
	case "motorcycle", "motorbike", "bicycle", "bike", "scooter":
		return "two-wheeler"
	case "":
		return "class:" + strconv.Itoa(d.Class)
	}
	return label
}
