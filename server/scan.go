package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/pipeline"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

// Scan job limits: jobs run one at a time (they use every core), a few
// may wait, and the last keptJobs are remembered for GET /api/scan/{id}.
const (
	maxWaitingJobs = 8
	keptJobs       = 200
	jobStoreBatch  = 500
	maxJobErrors   = 20
)

// Job is a scan of one uploaded file. Jobs live in memory: after a restart
// their findings are still stored, only the job record is gone.
type Job struct {
	ID         string         `json:"id"`
	File       string         `json:"file"`
	Size       int64          `json:"size"`
	Status     string         `json:"status"` // queued, running, done, failed
	Error      string         `json:"error,omitempty"`
	Records    int64          `json:"records"`
	Findings   int64          `json:"findings"`
	Errors     int64          `json:"record_errors"`
	ErrorList  []string       `json:"errors,omitempty"` // the first few, with file and offset
	Techniques map[string]int `json:"techniques"`
	EventIDs   []string       `json:"event_ids,omitempty"` // the first 1000 findings
	Created    time.Time      `json:"created"`
	Finished   *time.Time     `json:"finished,omitempty"`
}

type jobs struct {
	s    *Server
	sem  chan struct{} // one running job
	mu   sync.Mutex
	byID map[string]*Job
	ids  []string // creation order, for eviction
	wg   sync.WaitGroup
}

func newJobs(s *Server) *jobs {
	return &jobs{s: s, sem: make(chan struct{}, 1), byID: map[string]*Job{}}
}

func (j *jobs) snapshot(id string) (Job, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.byID[id]
	if !ok {
		return Job{}, false
	}
	c := *job
	c.Techniques = make(map[string]int, len(job.Techniques))
	for k, v := range job.Techniques {
		c.Techniques[k] = v
	}
	c.EventIDs = append([]string(nil), job.EventIDs...)
	c.ErrorList = append([]string(nil), job.ErrorList...)
	return c, true
}

func (j *jobs) update(job *Job, fn func(*Job)) {
	j.mu.Lock()
	fn(job)
	j.mu.Unlock()
}

// add registers a job, evicting the oldest finished ones past keptJobs. It
// refuses when too many jobs wait.
func (j *jobs) add(job *Job) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	waiting := 0
	for _, id := range j.ids {
		if st := j.byID[id].Status; st == "queued" || st == "running" {
			waiting++
		}
	}
	if waiting > maxWaitingJobs {
		return errors.New("too many scan jobs waiting")
	}
	for len(j.ids) >= keptJobs {
		old := j.byID[j.ids[0]]
		if old.Status == "queued" || old.Status == "running" {
			break
		}
		delete(j.byID, j.ids[0])
		j.ids = j.ids[1:]
	}
	j.byID[job.ID] = job
	j.ids = append(j.ids, job.ID)
	return nil
}

// startScan accepts a file as the raw body (any content type but form
// data) or as the "file" part of a multipart form, spools it to disk and
// queues a job.
func (s *Server) startScan(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	name := filepath.Base(r.URL.Query().Get("name"))
	var body io.Reader = r.Body
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "multipart: "+err.Error())
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				bodyError(w, fmt.Errorf("multipart: no \"file\" part: %w", err))
				return
			}
			if p.FormName() == "file" {
				if fn := p.FileName(); fn != "" {
					name = filepath.Base(fn)
				}
				body = p
				break
			}
		}
	}
	if name = filepath.Base(name); name == "." || name == ".." || name == string(filepath.Separator) {
		name = "upload" // never a path out of the job's folder
	}
	id := newJobID()
	dir := filepath.Join(s.scanDir(), id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.log.Error("scan upload", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not store the upload")
		return
	}
	path := filepath.Join(dir, name)
	size, err := spool(path, body)
	if err != nil {
		os.RemoveAll(dir)
		bodyError(w, err)
		return
	}
	if size == 0 {
		os.RemoveAll(dir)
		writeError(w, http.StatusBadRequest, "bad_request", "empty upload")
		return
	}
	job := &Job{ID: id, File: name, Size: size, Status: "queued", Techniques: map[string]int{}, Created: time.Now().UTC()}
	if err := s.jobs.add(job); err != nil {
		os.RemoveAll(dir)
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "busy", err.Error())
		return
	}
	s.jobs.wg.Add(1)
	go func() {
		defer s.jobs.wg.Done()
		defer os.RemoveAll(dir)
		s.runJob(job, path)
	}()
	w.Header().Set("Location", "/api/scan/"+id)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "queued", "url": "/api/scan/" + id})
}

func (s *Server) scanDir() string {
	if s.cfg.ScanDir != "" {
		return s.cfg.ScanDir
	}
	return filepath.Join(os.TempDir(), "ttpmap-scans")
}

func spool(path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func newJobID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// runJob scans one file with a fresh engine over the current rules (its
// own correlation windows) and stores the findings in batches.
func (s *Server) runJob(job *Job, path string) {
	ctx := s.runCtx
	select {
	case s.jobs.sem <- struct{}{}:
		defer func() { <-s.jobs.sem }()
	case <-ctx.Done():
		s.finishJob(job, ctx.Err())
		return
	}
	s.jobs.update(job, func(j *Job) { j.Status = "running" })
	engine, _, err := detect.New(*s.rules.Load(), s.cfg.EngineOptions)
	if err != nil {
		s.finishJob(job, err)
		return
	}
	var pending []*finding.Finding
	flush := func() error {
		if err := s.store(ctx, pending); err != nil {
			return fmt.Errorf("store findings: %w", err)
		}
		s.jobs.update(job, func(j *Job) {
			for _, f := range pending {
				if len(j.EventIDs) < 1000 {
					j.EventIDs = append(j.EventIDs, f.EventID)
				}
			}
		})
		pending = pending[:0]
		return nil
	}
	counters := &pipeline.Counters{}
	st, err := pipeline.Run(ctx, pipeline.Config{
		Walker:  &source.Walker{Formats: all.Formats()},
		Paths:   []string{path},
		Engine:  engine,
		Builder: &finding.Builder{KB: s.cfg.KB, SourceService: "ttpmap"},
		Out: func(f *finding.Finding) error {
			f.File = job.File
			pending = append(pending, f)
			if len(pending) == jobStoreBatch {
				return flush()
			}
			return nil
		},
		OnError: func(err error) {
			s.jobs.update(job, func(j *Job) {
				if len(j.ErrorList) < maxJobErrors {
					j.ErrorList = append(j.ErrorList, strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), ""))
				}
			})
		},
		Counters: counters,
	})
	if err == nil {
		err = flush()
	}
	s.jobs.update(job, func(j *Job) {
		j.Records, j.Findings, j.Errors = st.Records, st.Findings, st.RecordErrors+st.InputErrors
		for k, v := range st.Techniques {
			j.Techniques[k] = v
		}
		if st.Records == 0 && err == nil {
			err = errors.New("no events: not a log format ttpmap reads (EVTX, Event Viewer CSV, JSON/NDJSON, XML, Tracee, CAPE)")
		}
	})
	s.finishJob(job, err)
}

func (s *Server) finishJob(job *Job, err error) {
	now := time.Now().UTC()
	s.jobs.update(job, func(j *Job) {
		j.Finished = &now
		j.Status = "done"
		if err != nil {
			j.Status = "failed"
			j.Error = err.Error()
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("scan job failed", "job", job.ID, "err", err)
	}
}

func (s *Server) scanStatus(w http.ResponseWriter, r *http.Request) {
	job, ok := s.jobs.snapshot(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no scan job with this id")
		return
	}
	writeJSON(w, http.StatusOK, job)
}
