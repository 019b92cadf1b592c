package svg

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// dotQuote returns s as a DOT double-quoted string. Backslashes are doubled
// (a lone backslash would start a label escape such as \N or \l), quotes are
// escaped and line breaks become \n.
func dotQuote(s string) string {
	s = clean(s)
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			if r < 0x20 || r == 0x7f {
				b.WriteByte(' ')
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// GraphDOT writes the network as a Graphviz digraph named name: one node per
// entity, one edge per input edge labelled with its relationship and
// weighted by Weight. Render with `dot -Tsvg` or `sfdp -Tsvg`.
func GraphDOT(w io.Writer, name string, edges []Edge) error {
	if name == "" {
		name = "ttpmap"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(name))
	b.WriteString("\tgraph [rankdir=LR, overlap=false, splines=true, fontname=\"sans-serif\"];\n")
	b.WriteString("\tnode [shape=ellipse, style=filled, fillcolor=\"#c6dbef\", color=\"#3b6ea5\", fontname=\"sans-serif\"];\n")
	b.WriteString("\tedge [color=\"#8a8a8a\", fontname=\"sans-serif\", fontsize=10];\n")
	nodes, _ := buildGraph(edges)
	for _, nd := range nodes {
		fmt.Fprintf(&b, "\t%s;\n", dotQuote(nd.name))
	}
	for _, e := range edges {
		wt := max(e.Weight, 1)
		fmt.Fprintf(&b, "\t%s -> %s [label=%s, weight=%d, tooltip=%s];\n",
			dotQuote(e.Source), dotQuote(e.Target), dotQuote(e.Relationship), wt,
			dotQuote(clean(e.Source)+" "+clean(e.Relationship)+" "+clean(e.Target)+" ("+strconv.Itoa(wt)+" events)"))
	}
	b.WriteString("}\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("svg: write dot: %w", err)
	}
	return nil
}

// GraphML document shape (http://graphml.graphdrawing.org/).
type (
	gmlDoc struct {
		XMLName xml.Name `xml:"graphml"`
		XMLNS   string   `xml:"xmlns,attr"`
		Keys    []gmlKey `xml:"key"`
		Graph   gmlGraph `xml:"graph"`
	}
	gmlKey struct {
		ID       string `xml:"id,attr"`
		For      string `xml:"for,attr"`
		AttrName string `xml:"attr.name,attr"`
		AttrType string `xml:"attr.type,attr"`
	}
	gmlGraph struct {
		ID          string    `xml:"id,attr"`
		EdgeDefault string    `xml:"edgedefault,attr"`
		Nodes       []gmlNode `xml:"node"`
		Edges       []gmlEdge `xml:"edge"`
	}
	gmlNode struct {
		ID   string    `xml:"id,attr"`
		Data []gmlData `xml:"data"`
	}
	gmlEdge struct {
		ID     string    `xml:"id,attr"`
		Source string    `xml:"source,attr"`
		Target string    `xml:"target,attr"`
		Data   []gmlData `xml:"data"`
	}
	gmlData struct {
		Key   string `xml:"key,attr"`
		Value string `xml:",chardata"`
	}
)

// GraphML writes the network as a directed GraphML graph: nodes n0… with a
// "label" key, one edge per input edge with "relationship" and "weight" keys.
// Opens in Gephi, yEd, Cytoscape and networkx.
func GraphML(w io.Writer, edges []Edge) error {
	nodes, _ := buildGraph(edges)
	index := make(map[string]string, len(nodes))
	doc := gmlDoc{
		XMLNS: "http://graphml.graphdrawing.org/xmlns",
		Keys: []gmlKey{
			{ID: "label", For: "node", AttrName: "label", AttrType: "string"},
			{ID: "relationship", For: "edge", AttrName: "relationship", AttrType: "string"},
			{ID: "weight", For: "edge", AttrName: "weight", AttrType: "int"},
		},
		Graph: gmlGraph{ID: "ossem", EdgeDefault: "directed"},
	}
	for i, nd := range nodes {
		id := "n" + strconv.Itoa(i)
		index[nd.name] = id
		doc.Graph.Nodes = append(doc.Graph.Nodes, gmlNode{ID: id, Data: []gmlData{{Key: "label", Value: nd.name}}})
	}
	for i, e := range edges {
		doc.Graph.Edges = append(doc.Graph.Edges, gmlEdge{
			ID:     "e" + strconv.Itoa(i),
			Source: index[clean(e.Source)],
			Target: index[clean(e.Target)],
			Data: []gmlData{
				{Key: "relationship", Value: clean(e.Relationship)},
				{Key: "weight", Value: strconv.Itoa(max(e.Weight, 1))},
			},
		})
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("svg: encode graphml: %w", err)
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("svg: write graphml: %w", err)
	}
	return nil
}
