package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // photo decoders for --image
	_ "image/png"
	"math"
	"os"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/plate"
	"github.com/vigia-pe/vigia/models"
)

// plateLine is one line of `agent plates` output.
type plateLine struct {
	Text       string        `json:"text"`
	Confidence float32       `json:"confidence"`
	Box        [4]float32    `json:"box"`
	Corners    [4][2]float32 `json:"corners"`
	Readable   bool          `json:"readable"`
	Format     string        `json:"format"`
	PlateScore float32       `json:"plate_score"`
	VehicleBox *[4]float32   `json:"vehicle_box"`
}

func newPlatesCmd(g *globals) *cobra.Command {
	var (
		imagePath, formatName, model, modelsDir, crop string
		noVehicle                                     bool
		threads                                       int
		minConf                                       float32
	)
	cmd := &cobra.Command{
		Use:   "plates",
		Short: "Find and read the licence plates in a photo, one JSON line per plate",
		Long: `plates detects the vehicles in a photo (YOLOX), looks for plates in each padded
vehicle crop (LPD-YuNet), reads them (fast-plate-ocr) and prints one JSON object per plate:

  {"text":"ABC-123","confidence":0.97,"box":[x1,y1,x2,y2],"corners":[[x,y],…],
   "readable":true,"format":"peru-car","plate_score":0.93,"vehicle_box":[x1,y1,x2,y2]}

text is in the official written form of --plate-format; reads below --min-confidence
are printed with "readable":false and an empty text (never guessed). With no vehicle
found, or no plate on any vehicle, the whole photo is searched (vehicle_box null).`,
		Example: `  agent plates --image car.jpg
  agent plates --image car.jpg --plate-format brazil --no-vehicle`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if imagePath == "" {
				return errors.New("--image is required")
			}
			format, err := plate.ParseFormat(formatName)
			if err != nil {
				return err
			}
			var cropMode plate.CropMode
			switch crop {
			case "axis":
				cropMode = plate.CropAxisAligned
			case "rectify":
				cropMode = plate.CropRectify
			default:
				return fmt.Errorf("--crop %q: want axis or rectify", crop)
			}
			cfg, err := g.loadConfig(func(c *config.Config) {
				if modelsDir != "" {
					c.ModelsDir = modelsDir
				}
			})
			if err != nil {
				return err
			}
			log := cfg.Logger(cmd.ErrOrStderr())
			f, err := loadPhoto(imagePath)
			if err != nil {
				return err
			}

			// One ONNX Runtime environment per process, shared by the
			// vehicle detector and both plate models.
			rt := infer.NewRuntime(cfg.ORTLibrary, log)
			if err := rt.Start(); err != nil {
				return err
			}
			defer func() {
				if err := rt.Close(); err != nil {
					log.Warn("close ONNX Runtime", "err", err)
				}
			}()
			var vehicles []infer.Box
			if !noVehicle {
				m, err := models.Manifest(model, cfg.ModelsDir)
				if err != nil {
					return err
				}
				det, err := infer.New(rt, infer.Config{Provider: infer.ProviderCPU, IntraOpThreads: threads}, m, cfg.ModelsDir, log)
				if err != nil {
					return err
				}
				dets, err := det.Detect(f)
				if cerr := det.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
				for _, d := range dets {
					if d.Label != "person" {
						vehicles = append(vehicles, d.Box)
					}
				}
				log.Debug("vehicles found", "count", len(vehicles))
			}
			rec, err := plate.New(rt, plate.Config{
				ModelsDir:     cfg.ModelsDir,
				Threads:       threads,
				Format:        format,
				MinConfidence: minConf,
				Crop:          cropMode,
			}, log)
			if err != nil {
				return err
			}
			res, err := rec.RecognizeFrame(f, vehicles)
			if cerr := rec.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, r := range res {
				if err := enc.Encode(toPlateLine(r)); err != nil {
					return fmt.Errorf("plates: write: %w", err)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&imagePath, "image", "", "photo to read (JPEG or PNG)")
	fl.StringVar(&formatName, "plate-format", "peru", "plate layouts to accept: peru, brazil or any")
	fl.BoolVar(&noVehicle, "no-vehicle", false, "skip vehicle detection and search the whole photo")
	fl.StringVar(&crop, "crop", "axis", "how plates are cut out for reading: axis (padded box) or rectify (corner warp)")
	fl.Float32Var(&minConf, "min-confidence", plate.DefaultMinConfidence, "reads below this confidence are unreadable")
	fl.StringVar(&model, "model", "yolox-nano", "vehicle model name (models/<name>/manifest.json) or a manifest path")
	fl.StringVar(&modelsDir, "models-dir", "", "models directory (overrides AGENT_MODELS_DIR)")
	fl.IntVar(&threads, "threads", 2, "inference threads per model")
	return cmd
}

func loadPhoto(path string) (*frame.Frame, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plates: %w", err)
	}
	defer fh.Close()
	img, _, err := image.Decode(fh)
	if err != nil {
		return nil, fmt.Errorf("plates: decode %s: %w", path, err)
	}
	return plate.FromImage(img), nil
}

func round1(v float32) float32 { return float32(math.Round(float64(v)*10) / 10) }

func toPlateLine(r plate.VehicleResult) plateLine {
	l := plateLine{
		Text:       r.Text,
		Confidence: float32(math.Round(float64(r.Confidence)*1000) / 1000),
		Box:        [4]float32{round1(r.Box.X1), round1(r.Box.Y1), round1(r.Box.X2), round1(r.Box.Y2)},
		Readable:   r.Readable,
		Format:     r.Layout,
		PlateScore: float32(math.Round(float64(r.Score)*1000) / 1000),
	}
	for i, c := range r.Corners {
		l.Corners[i] = [2]float32{round1(c.X), round1(c.Y)}
	}
	if v := r.Vehicle; v != nil {
		l.VehicleBox = &[4]float32{round1(v.X1), round1(v.Y1), round1(v.X2), round1(v.Y2)}
	}
	return l
}
