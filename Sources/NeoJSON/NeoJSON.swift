// NeoJSON module
