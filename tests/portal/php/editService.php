<?php
$ch=curl_init();
curl_setopt_array($ch, array(
  CURLOPT_RETURNTRANSFER => true,
  CURLOPT_URL => 'https://www.backuprun.com/api.php',
  CURLOPT_POST => true,
  CURLOPT_POSTFIELDS => array(
    'apiCALL' => 'editService',
    'sc_id' => '662',
   'service_action' => 'terminate',
   'service_type' => 'custom')
 ));
$r=curl_exec($ch);
if($r === false)die('error!');
?>
