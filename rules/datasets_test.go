package rules

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/event"
)

// securityDatasets holds the OTRF Security-Datasets (Mordor) recordings,
// relative to this package.
const securityDatasets = "../../shared/datasets/security-datasets"

// readNxlogZip reads the nxlog JSON-lines member of a Security-Datasets zip
// into events. It is test scaffolding, not a source: the keys are already
// the Windows field names, numbers become their decimal text, and the
// provider comes from SourceName.
func readNxlogZip(t *testing.T, path string) []*event.Event {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer zr.Close()
	var out []*event.Event
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "__MACOSX/") || !strings.HasSuffix(zf.Name, ".json") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatalf("%s: %s: %v", path, zf.Name, err)
		}
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("%s: %s: %v", path, zf.Name, err)
			}
			e := &event.Event{}
			for k, v := range rec {
				switch v := v.(type) {
				case string:
					e.Set(k, v)
				case float64:
					e.Set(k, strconv.FormatFloat(v, 'f', -1, 64))
				case bool:
					e.Set(k, strconv.FormatBool(v))
				}
			}
			if p, ok := e.Fields["SourceName"]; ok {
				e.Set(event.FieldProvider, p)
			}
			if h, ok := e.Fields["Hostname"]; ok {
				e.Set(event.FieldComputer, h)
			}
			e.Complete()
			out = append(out, e)
		}
		rc.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %s: %v", path, zf.Name, err)
		}
	}
	return out
}

// TestSecurityDatasets runs the pack over recorded attack simulations and
// checks that the rules written for those attacks fire on the real events.
func TestSecurityDatasets(t *testing.T) {
	if testing.Short() {
		t.Skip("reads about 60,000 recorded events")
	}
	if _, err := os.Stat(securityDatasets); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("dataset %s absent", securityDatasets)
	}
	dets, _ := compilePack(t)
	tests := []struct {
		file string
		want []string
	}{
		{"credential_access/host/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip", []string{
			"Directory Replication Requested by Non-Machine Account (DCSync)"}},
		{"credential_access/host/psh_lsass_memory_dump_comsvcs.zip", []string{
			"LSASS Dumped With Comsvcs MiniDump", "LSASS Dump File Written", "LSASS Memory Read Access",
			"Suspicious Handle Requested to LSASS"}},
		{"credential_access/host/cmd_psexec_lsa_secrets_dump.zip", []string{
			"Remote Execution Tool Service Installed", "Remote Execution Tool Named Pipe Created",
			"SAM, SYSTEM or SECURITY Hive Saved With Reg", "Service Installed (Security Log)"}},
		{"credential_access/host/cmd_dumping_ntds_dit_file_ntdsutil.zip", []string{"NTDS.dit Extraction Attempt"}},
		{"credential_access/host/empire_mimikatz_extract_keys.zip", []string{"Mimikatz Output in PowerShell Module Log"}},
		{"defense_evasion/host/cmd_mshta_javascript_getobject_sct.zip", []string{"Mshta Running Remote or Inline Script"}},
		{"defense_evasion/host/cmd_bitsadmin_download_psh_script.zip", []string{"File Downloaded With Bitsadmin"}},
		{"defense_evasion/host/psh_disable_eventlog_service_startuptype_modification.zip", []string{
			"Security Service Start Type Set to Disabled"}},
		{"defense_evasion/host/auditpol_system_user_auditpolicy_modification.zip", []string{
			"System Audit Policy Auditing Removed"}},
		{"persistence/host/empire_schtasks_creation_standard_user.zip", []string{
			"Scheduled Task Created", "Scheduled Task Created With Schtasks", "Scheduled Task Created With Suspicious Action"}},
		{"lateral_movement/host/empire_psexec_dcerpc_tcp_svcctl.zip", []string{
			"Service Installed With Command Shell or Share Path", "Service Installed With Command Shell or Share Path (Security Log)",
			"Shell Spawned by Service Control Manager", "PowerShell Encoded Command"}},
		{"lateral_movement/host/empire_wmic_add_user_backdoor.zip", []string{
			"Local Account Created With Net", "Local User Account Created", "User Account Deleted", "Process Started Through WMIC"}},
		{"lateral_movement/host/covenant_copy_smb_CreateRequest.zip", []string{
			"Administrative Share Accessed", "Executable Written to Administrative Share"}},
		{"lateral_movement/host/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip", []string{"Shell Spawned by WMI Provider Host"}},
		{"other/aptsimulator_cobaltstrike.zip", []string{
			"Service Installed With Command Shell or Share Path (Security Log)", "Service Created or Reconfigured With Sc"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			t.Parallel()
			events := readNxlogZip(t, filepath.Join(securityDatasets, tt.file))
			counts := map[string]int{}
			for _, e := range events {
				for title := range fired(dets, e) {
					counts[title]++
				}
			}
			for _, title := range tt.want {
				if counts[title] == 0 {
					t.Errorf("%q did not fire on %d events; fired: %s", title, len(events), fmt.Sprint(counts))
				}
			}
		})
	}
}
