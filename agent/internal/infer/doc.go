// Package infer runs object detectors (ONNX Runtime through onnxruntime_go)
// described by model manifests, and turns their raw outputs into detections
// in source-frame pixels.
package infer
