DROP TABLE dossier_files;
DROP TABLE files;
