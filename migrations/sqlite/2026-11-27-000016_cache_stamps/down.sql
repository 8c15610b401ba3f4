DROP TABLE cache_stamps;
